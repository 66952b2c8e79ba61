"""The DAG that stands in the UI for a spec that failed validation, so the failure is seen, not silent."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, BaseOperator

from airflow_mlprovider.factory.builder import truncated
from airflow_mlprovider.spec import SpecError

INVALID_PREFIX = "invalid_spec__"
ERROR_CHARS = 1_000  # one error line in the serialized DAG (its doc and its task's arguments)


class SpecErrorsOperator(BaseOperator):
    """Fails with the spec's validation errors, so a triggered run says exactly what to fix."""

    ui_color = "#f4cccc"

    def __init__(self, *, spec_file: str, errors: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_file = spec_file
        self.errors = errors

    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            f"{self.spec_file} is not a valid model spec:\n" + "\n".join(self.errors)
            + "\nFix the file (check it with `mlprovider validate`); its DAG appears on the next parse."
        )


def _relative(spec_file: str, folder: Path) -> str:
    try:
        return Path(spec_file).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return Path(spec_file).name


def invalid_dag_id(spec_file: str, folder: Path) -> str:
    relative = _relative(spec_file, folder)
    return INVALID_PREFIX + re.sub(r"[^A-Za-z0-9_]+", "_", relative.removesuffix(".model.yaml")).strip("_")


def build_invalid_spec_dag(spec_file: str, errors: list[SpecError], folder: Path) -> DAG:
    lines = [truncated(str(e), ERROR_CHARS, spec_file) for e in errors]
    doc = "\n".join(
        [
            f"# Invalid model spec: `{spec_file}`",
            "",
            "This spec failed validation, so its model's DAG was not built. Other specs are unaffected.",
            "",
            "```",
            *lines,
            "```",
            "",
            "Fix the file and check it with `mlprovider validate " + spec_file + "`.",
        ]
    )
    with DAG(
        dag_id=invalid_dag_id(spec_file, folder),
        dag_display_name=f"INVALID SPEC {_relative(spec_file, folder)}: {len(lines)} error(s), see Docs",
        description=f"INVALID SPEC {Path(spec_file).name}: {lines[0] if lines else ''}"[:200],
        schedule=None,
        start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        tags=["mlprovider", "invalid-spec"],
        doc_md=doc,
        is_paused_upon_creation=True,
        default_args={"owner": "mlprovider"},
    ) as dag:
        SpecErrorsOperator(task_id="spec_errors", spec_file=spec_file, errors=lines, retries=0)
    return dag
