from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from airflow_mlprovider.artifacts import manifest_digest, verify_manifest
from airflow_mlprovider.backends.base import TrainingJob
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.backends.local.subprocess_compute import (
    SubprocessTrainingCompute,
    TrainingFailedError,
    TrainingTimeoutError,
    format_duration,
)
from airflow_mlprovider.user_code import UserCodeError

CONTRACT = '''
def preprocess(raw, ctx):
    return raw

def load(artifact_dir):
    return lambda request: {"prediction": 0}
'''


def _job(tmp_path: Path, train_body: str, max_runtime_s: float = 120) -> TrainingJob:
    module = tmp_path / "code" / "my_model.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(CONTRACT + "\ndef train(train, validation, ctx):\n" + train_body)
    store = FilesystemArtifactStore()
    for name, rows in (("train", 8), ("validation", 3)):
        local = tmp_path / f"{name}.parquet"
        pd.DataFrame({"x": range(rows), "y": range(rows)}).to_parquet(local)
        store.put_file(str(local), f"file://{tmp_path}/run/{name}.parquet")
    return TrainingJob(
        model="my_model",
        run_key="manual__1",
        module_path=str(module),
        train_uri=f"file://{tmp_path}/run/train.parquet",
        validation_uri=f"file://{tmp_path}/run/validation.parquet",
        artifact_uri=f"file://{tmp_path}/run/artifact",
        params={"k": 3},
        max_runtime_s=max_runtime_s,
        data_interval_start="2025-01-01T00:00:00+00:00",
        data_interval_end="2025-01-02T00:00:00+00:00",
        spec_source="/dags/my_model.model.yaml",
    )


def test_training_writes_model_code_and_manifest_and_relays_the_child_output(tmp_path: Path, caplog) -> None:
    job = _job(
        tmp_path,
        "    import os\n"
        "    print('rows', len(train), len(validation), ctx.params['k'], ctx.data_interval_end, flush=True)\n"
        "    ctx.log.info('fitting for %s', ctx.run_key)\n"
        "    open(os.path.join(ctx.artifact_dir, 'weights.txt'), 'w').write('42')\n",
    )
    with caplog.at_level(logging.INFO, logger="airflow_mlprovider.backends.local.subprocess_compute"):
        result = SubprocessTrainingCompute(FilesystemArtifactStore()).train(job)
    artifact = tmp_path / "run" / "artifact" / manifest_digest(result.manifest)[:16]
    assert result.artifact_uri == artifact.as_uri()
    assert sorted(result.manifest) == ["code/my_model.py", "model/weights.txt"]
    assert verify_manifest(artifact)["digest"] == manifest_digest(result.manifest)
    assert (artifact / "code" / "my_model.py").read_text() == Path(job.module_path).read_text()
    assert "[train my_model] rows 8 3 3 2025-01-02T00:00:00+00:00" in caplog.text
    assert "fitting for manual__1" in caplog.text
    assert result.duration_s > 0


def test_a_train_that_raises_reports_the_error_and_the_traceback_tail(tmp_path: Path) -> None:
    job = _job(tmp_path, "    raise ValueError('labels are all NaN')\n")
    with pytest.raises(TrainingFailedError) as failure:
        SubprocessTrainingCompute(FilesystemArtifactStore()).train(job)
    message = str(failure.value)
    assert isinstance(failure.value, UserCodeError)  # the model's own error: not retried
    assert "train() in" in message and "my_model.py raised" in message
    assert "Traceback" in message and "ValueError: labels are all NaN" in message
    assert not (tmp_path / "run" / "artifact").exists()


def test_an_os_error_in_train_is_infrastructure(tmp_path: Path) -> None:
    job = _job(tmp_path, "    raise TimeoutError('the feature store did not answer')\n")
    with pytest.raises(TrainingFailedError, match="exit code 1") as failure:
        SubprocessTrainingCompute(FilesystemArtifactStore()).train(job)
    assert not isinstance(failure.value, UserCodeError)


def test_a_train_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingFailedError, match="wrote nothing into ctx.artifact_dir"):
        SubprocessTrainingCompute(FilesystemArtifactStore()).train(_job(tmp_path, "    pass\n"))


def _gone(pid: int) -> bool:
    """True once the process has exited (a zombie waiting for a reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_an_overrun_kills_the_child_and_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    job = _job(
        tmp_path,
        "    import subprocess, time\n"
        f"    helper = subprocess.Popen(['sleep', '300'])\n"
        f"    open({str(pid_file)!r}, 'w').write(str(helper.pid))\n"
        "    time.sleep(300)\n",
        max_runtime_s=6,
    )
    with pytest.raises(TrainingTimeoutError) as failure:
        SubprocessTrainingCompute(FilesystemArtifactStore()).train(job)
    assert str(failure.value) == (
        "training exceeded max_runtime of 6s (train.max_runtime in /dags/my_model.model.yaml); it was killed"
    )
    grandchild = int(pid_file.read_text())
    for _ in range(100):  # SIGKILL is delivered asynchronously; bounded wait, no timing assertion
        if _gone(grandchild):
            break
        time.sleep(0.05)
    assert _gone(grandchild)
    assert not (tmp_path / "run" / "artifact").exists()


@pytest.mark.parametrize(("seconds", "text"), [(600, "10m"), (7200, "2h"), (90, "90s"), (86400, "1d"), (1.5, "1.5s")])
def test_durations_are_shown_in_the_spec_notation(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


SECRETS = {
    "AIRFLOW_CONN_WAREHOUSE": "postgres://user:hunter2@db/prod",
    "AIRFLOW_VAR_API_KEY": "hunter2",
    "AIRFLOW__CORE__FERNET_KEY": "hunter2",
    "AIRFLOW__SECRETS__BACKEND_KWARGS": '{"token": "hunter2"}',
    "MLPROVIDER_ENDPOINT_TOKEN": "hunter2",
    "AWS_SECRET_ACCESS_KEY": "hunter2",
    "AWS_SESSION_TOKEN": "hunter2",
    "SNOWFLAKE_PASSWORD": "hunter2",
}


def test_model_code_runs_without_the_workers_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    job = _job(
        tmp_path,
        "    import json, os\n"
        "    open(os.path.join(ctx.artifact_dir, 'env.json'), 'w').write(json.dumps(dict(os.environ)))\n",
    )
    result = SubprocessTrainingCompute(FilesystemArtifactStore()).train(job)
    import json

    seen = json.loads((Path(result.artifact_uri.removeprefix("file://")) / "model" / "env.json").read_text())
    assert not set(SECRETS) & set(seen)
    assert "hunter2" not in json.dumps(seen)
    assert seen["PATH"] == os.environ["PATH"] and seen["LC_ALL"] == "C.UTF-8"
    assert seen["OMP_NUM_THREADS"] == "1"


TASK = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_subprocess_compute import _job
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.backends.local.subprocess_compute import SubprocessTrainingCompute
SubprocessTrainingCompute(FilesystemArtifactStore()).train(_job(Path({tmp!r}), {body!r}))
"""


def _wait_for(predicate, what: str, attempts: int = 400) -> None:
    for _ in range(attempts):  # a bounded wait for asynchronous kills, not a timing assertion
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"still waiting for {what}")


def test_kill_9_of_the_task_kills_the_training_child_and_removes_its_work_folder(tmp_path: Path) -> None:
    """The train task process dies with SIGKILL mid-training (a lost worker, an OOM kill): its training child,
    whatever that child started, and the temp folder holding the data copy and the partial artifact all go."""
    import signal
    import subprocess
    import sys

    marker = tmp_path / "started.txt"
    body = (
        "    import os, subprocess, time\n"
        "    helper = subprocess.Popen(['sleep', '300'])\n"
        f"    open({str(marker)!r} + '.tmp', 'w').write(f'{{os.getpid()}} {{helper.pid}} {{ctx.artifact_dir}}')\n"
        f"    os.rename({str(marker)!r} + '.tmp', {str(marker)!r})\n"
        "    time.sleep(300)\n"
    )
    script = TASK.format(tests=str(Path(__file__).parent), tmp=str(tmp_path), body=body)
    task = subprocess.Popen([sys.executable, "-c", script])
    try:
        _wait_for(marker.exists, "train() to start")
        runner, helper, artifact_dir = marker.read_text().split(" ", 2)
        work = Path(artifact_dir).parents[1]
        assert work.is_dir() and work.name.startswith("mlprovider-train-my_model-")
        task.send_signal(signal.SIGKILL)
        task.wait()
        _wait_for(lambda: _gone(int(runner)) and _gone(int(helper)), "the training child and its helper to die")
        _wait_for(lambda: not work.exists(), f"{work} to be removed")
    finally:
        task.kill()


def test_training_a_run_again_never_overwrites_its_first_artifact(tmp_path: Path) -> None:
    """Re-running train for a run (a cleared task, a retry after upload) writes a new folder; the artifact a
    registry may already point at, even the champion's, keeps its files and digest."""
    job = _job(tmp_path, "    import os\n    open(os.path.join(ctx.artifact_dir, 'w.bin'), 'wb').write(os.urandom(64))\n")
    compute = SubprocessTrainingCompute(FilesystemArtifactStore())
    first = compute.train(job)
    first_dir = Path(first.artifact_uri.removeprefix("file://"))
    before = verify_manifest(first_dir)
    second = compute.train(job)
    assert second.artifact_uri != first.artifact_uri
    assert verify_manifest(first_dir) == before
    assert manifest_digest(first.manifest) == before["digest"]
