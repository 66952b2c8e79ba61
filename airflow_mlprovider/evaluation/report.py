"""A readable evaluation: candidate vs champion on the metric, the rule's verdict, the diagnostic plots.

Rendered as Markdown (plots linked relative: they sit beside the report) and as one self-contained HTML
file (plots embedded as base64 PNG), plus the few lines the task log and the notification carry.
No Airflow, no I/O: the evaluate operator writes what this returns.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def headline(evaluation: Mapping[str, Any], verdict: Mapping[str, Any] | None) -> str:
    """One line: the metric of both models, the gain and its interval, and the verdict."""
    candidate, champion = evaluation["candidate"], evaluation.get("champion")
    text = f"{candidate['metric']}: candidate {_number(candidate['value'])}"
    if champion is None:
        text += " (no champion yet)"
    else:
        text += f" vs champion {champion.get('version_id', '')} {_number(champion['value'])}".replace("  ", " ")
    comparison = evaluation.get("comparison")
    if comparison:
        text += (f"; gain {_number(comparison['gain'])}, {comparison['confidence']:.0%} interval "
                 f"[{_number(comparison['low'])}, {_number(comparison['high'])}] on {comparison['rows']} paired rows")
    if verdict is not None:
        text += f" -> {'PROMOTE' if verdict['promote'] else 'KEEP THE CHAMPION'}"
    return text


def _rows(evaluation: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(what, candidate, champion) rows of the comparison table."""
    candidate, champion = evaluation["candidate"], evaluation.get("champion") or {}
    rows = [
        (candidate["metric"], _number(candidate["value"]), _number(champion.get("value"))),
        ("version", "this run", str(champion.get("version_id", "none"))),
        ("schema violations", str(candidate.get("schema_violations", 0)), _number(champion.get("schema_violations"))),
        ("scored by", str(candidate.get("path", "")), str(champion.get("path", "—"))),
    ]
    return rows


def _comparison_lines(evaluation: Mapping[str, Any]) -> list[str]:
    comparison = evaluation.get("comparison")
    lines = [f"Test set: {evaluation.get('test_rows')} rows, {evaluation.get('rows')} scored."]
    if comparison:
        lines.append(
            f"Gain (positive = candidate better): {_number(comparison['gain'])}, {comparison['confidence']:.0%} "
            f"interval [{_number(comparison['low'])}, {_number(comparison['high'])}] ({comparison['method']}).")
    return lines


def render_markdown(model: str, run_id: str, evaluation: Mapping[str, Any], verdict: Mapping[str, Any] | None,
                    plots: list[str]) -> str:
    """The report as Markdown; `plots` are file names beside the report."""
    lines = [f"# Evaluation of {model}", "", f"Run `{run_id}`.", "", f"**{headline(evaluation, verdict)}**", ""]
    lines += ["| | candidate | champion |", "| --- | --- | --- |"]
    lines += [f"| {what} | {cand} | {champ} |" for what, cand, champ in _rows(evaluation)]
    lines += ["", *_comparison_lines(evaluation), ""]
    if verdict is not None:
        lines += ["## Verdict", "", f"{'Promote' if verdict['promote'] else 'Keep the champion'}: {verdict['reason']}",
                  "", "(The decide task also checks that the candidate's data is not older than the champion's.)", ""]
    if plots:
        lines += ["## Diagnostics", ""] + [f"![{name}]({name})" for name in plots] + [""]
    return "\n".join(lines)


def render_html(model: str, run_id: str, evaluation: Mapping[str, Any], verdict: Mapping[str, Any] | None,
                plots: Mapping[str, bytes]) -> str:
    """The report as one self-contained HTML page: `plots` (name -> PNG bytes) are embedded."""
    e = html.escape
    table = "".join(f"<tr><th>{e(what)}</th><td>{e(cand)}</td><td>{e(champ)}</td></tr>"
                    for what, cand, champ in _rows(evaluation))
    verdict_html = ""
    if verdict is not None:
        word = "Promote" if verdict["promote"] else "Keep the champion"
        verdict_html = (f"<h2>Verdict</h2><p class=\"{'promote' if verdict['promote'] else 'keep'}\"><b>{word}</b>: "
                        f"{e(verdict['reason'])}</p><p>The decide task also checks that the candidate's data is not "
                        "older than the champion's.</p>")
    figures = "".join(
        f"<figure><img alt=\"{e(name)}\" src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">"
        f"<figcaption>{e(name)}</figcaption></figure>" for name, png in plots.items())
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<title>Evaluation of {e(model)}</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:.3em .8em;text-align:left}.promote{color:#176117}.keep{color:#8a4b00}"
        "figure{display:inline-block;margin:1em}img{max-width:28em}</style></head><body>"
        f"<h1>Evaluation of {e(model)}</h1><p>Run <code>{e(run_id)}</code>.</p>"
        f"<p><b>{e(headline(evaluation, verdict))}</b></p>"
        f"<table><tr><th></th><th>candidate</th><th>champion</th></tr>{table}</table>"
        + "".join(f"<p>{e(line)}</p>" for line in _comparison_lines(evaluation))
        + verdict_html + (f"<h2>Diagnostics</h2>{figures}" if figures else "") + "</body></html>"
    )


def report_link(uri: str) -> str:
    """Where a browser opens a report: a file:// URI as is; s3:// as the S3 console page of the object."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://"):].partition("/")
        from urllib.parse import quote

        return f"https://s3.console.aws.amazon.com/s3/object/{quote(bucket)}?prefix={quote(key)}"
    return uri
