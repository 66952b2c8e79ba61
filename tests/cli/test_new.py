"""`mlprovider new` asks the model's questions (a pty drives the prompts), takes a flag for each, and writes a
spec, a model module fitting the task type, both schemas and a test: `validate` and `mlprovider test` pass."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_mlprovider.cli import main
from airflow_mlprovider.factory.builder import build_dag
from airflow_mlprovider.spec import load_specs

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A dags folder whose defaults point at a DuckDB warehouse holding a small table `wine`."""
    import duckdb
    import numpy as np
    import pandas as pd

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "mlprovider.defaults.yaml").write_text(
        f"artifact_root: {tmp_path / 'artifacts'}\nwarehouse: {{type: duckdb, path: {tmp_path / 'wh.duckdb'}}}\n")
    rng = np.random.default_rng(0)
    n = 240
    alcohol = rng.normal(12, 1, n)
    color = rng.choice(["red", "white"], n)
    quality = np.clip(np.round((alcohol - 12) * 1.5 + rng.normal(0, 0.7, n)) + 1, 0, 2).astype(int)
    rows = pd.DataFrame({
        "id": range(n), "day": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "alcohol": alcohol, "acidity": rng.normal(3, 0.3, n), "color": color,
        "quality": quality, "good": (quality == 2).astype(int), "price": alcohol * 2 + rng.normal(0, 1, n),
    })
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.register("rows", rows)
        con.execute("CREATE TABLE wine AS SELECT * FROM rows")
    return dags


TASKS = {  # task -> (label, split flags, expected metric and prediction field)
    "regression": ("price", ["--time-column", "day", "--split", "time"], "rmse", "prediction"),
    "binary": ("good", ["--key-column", "id"], "roc_auc", "probability"),
    "multiclass": ("quality", ["--key-column", "id", "--time-column", "day", "--split", "key"], "f1_macro", "prediction"),
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_flags_alone_scaffold_a_valid_model_that_passes_its_contract_test(folder: Path, task: str, capsys) -> None:
    label, split, metric, field = TASKS[task]
    name = f"wine_{task}"
    argv = ["new", name, "--dir", str(folder), "--task", task, "--table", "wine", "--label", label, *split,
            "--promotion", "min_improvement:0.02,on_tie:promote", "--schedule", "@weekly", "--max-runtime", "5m"]
    assert main(argv) == 0  # stdin is not a terminal under pytest: nothing is asked
    for path in (f"{name}.model.yaml", f"models/{name}.py", f"schemas/{name}.request.json",
                 f"schemas/{name}.response.json", f"tests/test_{name}.py"):
        assert (folder / path).is_file(), path
    assert main(["validate", str(folder)]) == 0
    (spec,) = load_specs(folder).specs
    assert (spec.evaluate.metric, spec.evaluate.prediction_field, spec.evaluate.label) == (metric, field, label)
    assert spec.promote.min_relative_improvement == 0.02 and spec.promote.on_tie == "promote"
    assert spec.schedule == "@weekly" and spec.serving is not None
    assert spec.data.split.by == ("time" if "time" in split else "hash")
    assert build_dag(spec).dag_id == name
    response = json.loads((folder / f"schemas/{name}.response.json").read_text())
    assert field in response["required"]
    capsys.readouterr()
    assert main(["test", str(folder / f"{name}.model.yaml")]) == 0, capsys.readouterr().out


def test_the_model_fits_its_task(folder: Path) -> None:
    from airflow_mlprovider.artifacts import import_module_from_path
    from airflow_mlprovider.contract import ModelContext

    assert main(["new", "grapes", "--dir", str(folder), "--task", "multiclass", "--table", "wine",
                 "--label", "quality", "--metric", "log_loss"]) == 0
    assert "prediction_field: probabilities" in (folder / "grapes.model.yaml").read_text()
    module = import_module_from_path(folder / "models" / "grapes.py")
    import duckdb

    rows = duckdb.connect(str(folder.parent / "wh.duckdb")).execute("SELECT * FROM wine").df()
    artifacts = folder.parent / "model"
    artifacts.mkdir()
    module.train(rows, rows.head(0), ModelContext(model="grapes", artifact_dir=str(artifacts)))
    answer = module.load(str(artifacts))({"alcohol": 14.5, "acidity": 3.0, "color": "red"})
    assert answer["prediction"] in (0, 1, 2) and set(answer["probabilities"]) == {"0", "1", "2"}
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-9
    assert answer["probabilities"][str(answer["prediction"])] == max(answer["probabilities"].values())
    # a request without the features, or with unknown ones, is still answered
    assert module.load(str(artifacts))({"unknown": [1, {"x": None}]})["prediction"] in (0, 1, 2)


def test_bad_answers_by_flag_are_refused(folder: Path, capsys) -> None:
    assert main(["new", "m1", "--dir", str(folder), "--split", "time"]) == 2
    assert "--split time needs --time-column" in capsys.readouterr().err
    assert main(["new", "m1", "--dir", str(folder), "--task", "binary", "--metric", "rmse"]) == 2
    assert "for binary: one of roc_auc" in capsys.readouterr().err
    assert main(["new", "m1", "--dir", str(folder), "--promotion", "faster"]) == 2
    assert "'faster': use 'better' or min_improvement:N" in capsys.readouterr().err
    assert main(["new", "Bad-Name", "--dir", str(folder)]) == 2
    assert main(["new", "m1", "--dir", str(folder)]) == 0
    assert main(["new", "m1", "--dir", str(folder)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


def test_aws_picks_instance_types_with_their_price(folder: Path) -> None:
    from airflow_mlprovider.backends.aws.instance_picker import pick_instance

    assert main(["new", "cloudy", "--dir", str(folder), "--platform", "aws", "--cpus", "8", "--memory", "32",
                 "--no-serve"]) == 0
    text = (folder / "cloudy.model.yaml").read_text()
    training = pick_instance(8, 32, purpose="training").chosen
    assert f"instance_type: {training.name}   # 8 vCPU" in text and f"${training.usd_per_hour:.3f}/h" in text
    assert "compute: sagemaker" in text and "serving:" not in text and "platform: aws" in text
    assert main(["validate", str(folder / "cloudy.model.yaml")]) == 0


class Terminal:
    """The command on a pseudo-terminal: read until a prompt shows, then type an answer."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no {text!r} within {timeout}s; the terminal shows:\n{self.seen}")
            try:
                self.seen += os.read(self.master, 4096).decode()
            except OSError:  # the command ended
                raise AssertionError(f"no {text!r}; the terminal shows:\n{self.seen}") from None
        self.seen = self.seen[self.seen.index(text) + len(text):]

    def answer(self, prompt: str, text: str) -> None:
        self.expect(prompt)
        os.write(self.master, text.encode() + b"\n")

    def finish(self) -> int:
        self.expect("next:")
        code = self.process.wait(timeout=60)
        os.close(self.master)
        return code


def test_a_terminal_is_asked_every_question_with_defaults(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    shutil.copy(EXAMPLES / "mlprovider.defaults.yaml", folder)
    term = Terminal([sys.executable, "-m", "airflow_mlprovider.cli", "new", "vintage", "--dir", str(folder),
                     "--table", "wine"])
    term.answer("Task type (regression, binary, multiclass) [regression]: ", "multiclass")
    term.answer("Label: the column to predict [target]: ", "quality")
    term.answer("Key column identifying a row [id]: ", "")
    term.answer("Time column ('none' if there is none) [none]: ", "received")
    term.answer("Test set by time (latest rows) or by key (stable hash) [time]: ", "sideways")
    term.answer("expected one of time, key", "")  # asked again after a bad answer; empty takes the default
    term.answer("Test fraction [0.2]: ", "0.25")
    term.answer("Metric [f1_macro]: ", "rmse")  # a regression metric for a classifier: asked again
    term.answer("expected for multiclass: one of f1_macro", "f1_weighted")
    term.answer("Direction (maximize, minimize) [maximize]: ", "")
    term.answer("Promotion rule against the champion [min_improvement:0.01]: ", "confidence:0.9")
    term.answer("CPUs for training [2]: ", "4")
    term.answer("Memory for training (GB) [4.0]: ", "")
    term.answer("Max training runtime [30m]: ", "1h")
    term.answer("Schedule [@daily]: ", "")
    term.answer("Platform (local, aws) [local]: ", "")
    term.answer("Serve the champion and roll candidates out (yes, no) [yes]: ", "no")
    assert term.finish() == 0
    text = (folder / "vintage.model.yaml").read_text()
    for line in ("metric: f1_weighted", "label: quality", "split: {by: time, column: received, validation: 0.15, "
                 "test: 0.25}", 'promote: {"confidence": 0.9}', "cpus: 4", "max_runtime: 1h", "FROM wine"):
        assert line in text, line
    assert "serving:" not in text
    assert main(["validate", str(folder)]) == 0
