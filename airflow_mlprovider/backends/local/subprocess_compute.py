"""Training on the worker: the model's train() runs in a child process with a hard max runtime.

The child gets its own process group, so an overrun kills everything train() started, too; a ChildGuard
kills that group and removes the work folder if the task process itself is killed (kill -9, a lost worker).
Model code runs with an allow-listed environment: no Airflow connection, variable or config secret, no
endpoint admin token, no cloud credential reaches it. It runs single-threaded OpenMP/BLAS unless the worker's
environment says otherwise: a worker runs several tasks at once, and oversubscribed OpenMP threads
(scikit-learn's gradient boosting) slow training down tenfold.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from airflow_mlprovider.artifacts import CODE_DIR, MODEL_DIR, artifact_folder_uri, write_manifest
from airflow_mlprovider.backends.base import ArtifactStore, TrainingJob, TrainingResult
from airflow_mlprovider.backends.local.child_guard import ChildGuard
from airflow_mlprovider.user_code import USER_CODE_EXIT_CODE, UserCodeError

log = logging.getLogger(__name__)

TAIL_LINES = 30  # lines of the child's output quoted in a failure
# What model code may see of the worker's environment: the platform basics, nothing that can hold a secret
# (AIRFLOW_CONN_*, AIRFLOW_VAR_*, AIRFLOW__*, the endpoint token, AWS_*/SNOWFLAKE_* credentials are all left out).
CHILD_ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONPATH", "PYTHONHASHSEED",
    "VIRTUAL_ENV", "LD_LIBRARY_PATH",
})
CHILD_ENV_PREFIXES = ("LC_", "OMP_", "OPENBLAS_", "MKL_", "NUMEXPR_", "VECLIB_")
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of `environ` (default os.environ), single-threaded BLAS unless it says otherwise."""
    environ = os.environ if environ is None else environ
    kept = {k: v for k, v in environ.items() if k in CHILD_ENV_NAMES or k.startswith(CHILD_ENV_PREFIXES)}
    return {**SINGLE_THREADED, **kept}


class TrainingTimeoutError(RuntimeError):
    """train() ran longer than train.max_runtime and was killed."""


class TrainingFailedError(RuntimeError):
    """The training process failed (killed, crashed, or the model's code raised)."""


class UserTrainingError(TrainingFailedError, UserCodeError):
    """train() raised a deterministic error, or wrote nothing: not retried."""


def format_duration(seconds: float) -> str:
    """600 -> '10m', 7200 -> '2h', 90 -> '90s': the spec's own notation."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _children_cpu_s() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class SubprocessTrainingCompute:
    """backends.base.TrainingCompute: a `python -m ...train_runner` child of the worker."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.child: subprocess.Popen | None = None  # the running training process: what stop() kills

    def stop(self) -> None:
        """Kill the running training's whole process group (a killed task must not leave train() running)."""
        if self.child is not None:
            _kill_group(self.child)

    def train(self, job: TrainingJob) -> TrainingResult:
        started, cpu_before = time.monotonic(), _children_cpu_s()
        work = Path(tempfile.mkdtemp(prefix=f"mlprovider-train-{job.model}-"))
        with ChildGuard(work) as guard:  # removes `work` on exit, and if this process is killed
            artifact = work / "artifact"
            (artifact / MODEL_DIR).mkdir(parents=True)
            (artifact / CODE_DIR).mkdir()
            job_file = self._write_job(job, work, artifact / MODEL_DIR)
            self._run_child(job, job_file, guard)
            if not any((artifact / MODEL_DIR).iterdir()):
                raise UserTrainingError(f"train() in {job.module_path} wrote nothing into ctx.artifact_dir")
            # the code as it was at training time serves this version, whatever later edits do
            shutil.copyfile(job.module_path, artifact / CODE_DIR / Path(job.module_path).name)
            manifest = write_manifest(artifact)
            # a folder per content: training a run again never touches an artifact already registered
            artifact_uri = artifact_folder_uri(job.artifact_uri, manifest["digest"])
            self.store.put_dir(str(artifact), artifact_uri)
        return TrainingResult(
            artifact_uri=artifact_uri,
            manifest=manifest["files"],
            duration_s=time.monotonic() - started,
            # what the run's cost reports locally (cost.py): CPU time of the training child and its children
            detail={"cpu_seconds": round(_children_cpu_s() - cpu_before, 3)},
        )

    def _write_job(self, job: TrainingJob, work: Path, model_dir: Path) -> Path:
        data = work / "data"
        self.store.get_file(job.train_uri, str(data / "train.parquet"))
        self.store.get_file(job.validation_uri, str(data / "validation.parquet"))
        job_file = work / "job.json"
        job_file.write_text(
            json.dumps(
                {
                    "model": job.model,
                    "run_key": job.run_key,
                    "module_path": job.module_path,
                    "train_path": str(data / "train.parquet"),
                    "validation_path": str(data / "validation.parquet"),
                    "artifact_dir": str(model_dir),
                    "params": job.params,
                    "data_interval_start": job.data_interval_start,
                    "data_interval_end": job.data_interval_end,
                }
            )
        )
        return job_file

    def _run_child(self, job: TrainingJob, job_file: Path, guard: ChildGuard) -> None:
        command = [sys.executable, "-m", "airflow_mlprovider.backends.local.train_runner", str(job_file)]
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: killpg reaches train()'s children too
            env=child_environment(),
        )
        guard.adopt(child.pid)
        self.child = child
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        relay = threading.Thread(target=_relay_output, args=(child, tail, job.model), daemon=True)
        relay.start()
        try:
            child.wait(timeout=job.max_runtime_s)
        except subprocess.TimeoutExpired:
            where = f" (train.max_runtime in {job.spec_source})" if job.spec_source else " (train.max_runtime)"
            raise TrainingTimeoutError(
                f"training exceeded max_runtime of {format_duration(job.max_runtime_s)}{where}; it was killed"
            ) from None
        finally:
            _kill_group(child)
            relay.join(timeout=10)
        if child.returncode == USER_CODE_EXIT_CODE:
            raise UserTrainingError(f"train() in {job.module_path} raised; last output:\n" + "".join(tail))
        if child.returncode != 0:
            raise TrainingFailedError(
                f"train() in {job.module_path} failed (exit code {child.returncode}); last output:\n" + "".join(tail)
            )


def _relay_output(child: subprocess.Popen, tail: deque[str], model: str) -> None:
    """Stream the child's output into the task log, keeping the last lines for an error message."""
    for line in child.stdout:
        tail.append(line)
        log.info("[train %s] %s", model, line.rstrip("\n"))


def _kill_group(child: subprocess.Popen) -> None:
    """Kill the child's whole process group (a no-op when everything in it has exited)."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()
