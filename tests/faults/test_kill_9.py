"""kill -9 of the worker at each step of a real run of the generated DAG, then Airflow's retry.

Each run executes in a worker process (tests/faults/dag_worker.py: dag.test() on the DAG the dags-folder loader
builds, against a live local endpoint server under traffic). The worker is killed with SIGKILL at a step:
while train() runs in its child, after register, after deploy, at a rollout step, after the rollout's last step,
after finalize, after rollback. Then a new worker retries the run as Airflow does after a lost worker (the dead
worker's tasks are scheduled again, finished ones keep their state and XCom), and the suite checks:
- nothing is orphaned: no process of the dead worker or of its training child, no training temp folder;
- the run completes: the candidate became champion at 100 %, or (a faulty candidate) the champion serves 100 %;
- the registry is consistent: every version's artifact matches its registered digest, the champion is a
  registered version with its 'promoted' event, no half-written artifact folder is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import dags_folder, edit_spec, endpoint_server  # noqa: F401 - fixtures
from tests.integration.test_local_rollout import ENDPOINT, MODEL, Traffic, _configure, _rows

ROOT = Path(__file__).resolve().parents[2]
FIRST_DAY = datetime(2025, 6, 1, tzinfo=timezone.utc)
RUN_TIMEOUT_S = 600


@dataclass(frozen=True)
class KillPoint:
    name: str
    fault: str = ""  # a FaultPoint of the worker (task_id:start|end), or "" when `reached` watches from outside
    reached: Callable[[World], bool] | None = None


class World:
    """The dags folder, the endpoint, the worker's private temp folder, and what a run left behind."""

    def __init__(self, folder: Path, url: str, tmp: Path) -> None:
        self.folder, self.url, self.tmp = folder, url, tmp
        self.tmp.mkdir()

    def spec(self):
        from airflow_mlprovider.spec import load_spec_file

        return load_spec_file(self.folder / f"{MODEL}.model.yaml")

    def registry(self):
        from airflow_mlprovider.backends import store_for
        from airflow_mlprovider.registry.store import ModelRegistry

        spec = self.spec()
        return ModelRegistry(store_for(spec), spec.model_root)

    def weights(self) -> dict[str, float]:
        from airflow_mlprovider.backends import serving_for

        return serving_for(self.spec()).describe(ENDPOINT)

    def worker(self, day: datetime, mode: str, fault: str = "", marker: Path | None = None) -> subprocess.Popen:
        args = [str(self.folder), MODEL, day.isoformat(), mode] + ([fault, str(marker)] if fault else [])
        return subprocess.Popen(
            [sys.executable, "-m", "tests.faults.dag_worker", *args],
            cwd=ROOT, env={**os.environ, "TMPDIR": str(self.tmp)}, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def run(self, day: datetime, mode: str) -> None:
        worker = self.worker(day, mode)
        output, _ = worker.communicate(timeout=RUN_TIMEOUT_S)
        assert "RUN STATE success" in output, output[-6000:]


def _training_child_running(world: World) -> bool:
    return any(world.tmp.glob("mlprovider-train-*/job.json")) and bool(_processes_using(world.tmp))


def _rollout_at_first_step(world: World) -> bool:
    return 50.0 in world.weights().values()


def _processes_using(path: Path) -> list[int]:
    """Processes whose command line names `path` (the training child and its guard name their work folder)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(path) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if not _is_zombie(pid)]


def _session_members(sid: int) -> list[int]:
    members = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(proc.name))
    return members


def _is_zombie(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) == "Z"
    except OSError:
        return True


def _wait_for(predicate: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds  # a bound on waiting for asynchronous work, not a timing assertion
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"still waiting for {what}")


def _kill_at(world: World, day: datetime, point: KillPoint, mode: str) -> None:
    marker = world.tmp.parent / "fault-reached"
    marker.unlink(missing_ok=True)
    worker = world.worker(day, mode, point.fault, marker)
    try:
        reached = (lambda: marker.exists()) if point.fault else (lambda: point.reached(world))
        _wait_for(lambda: reached() or worker.poll() is not None, f"the worker to reach {point.name}", RUN_TIMEOUT_S)
        assert worker.poll() is None, f"the run ended before {point.name}:\n{worker.communicate()[0][-6000:]}"
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    finally:
        worker.kill()
        worker.stdout.close()
    # nothing the dead worker started lives on: not in its session, not its training child (own session)
    _wait_for(lambda: not _session_members(worker.pid), f"the processes of the worker killed at {point.name} to die", 30)
    _wait_for(lambda: not _processes_using(world.tmp), f"the training child killed at {point.name} to die", 30)
    _wait_for(lambda: not list(world.tmp.glob("mlprovider-train-*")), "the training temp folder to be removed", 30)


def _check_consistent(world: World, rolled_back: bool) -> None:
    from airflow_mlprovider.artifacts import verify_artifact
    from airflow_mlprovider.backends.local.filesystem_store import INTERNAL_PREFIX, path_of

    registry = world.registry()
    versions = registry.versions()
    for version in versions:
        verify_artifact(path_of(version.artifact_uri), version.manifest_digest)
    champion, candidate = registry.champion(), versions[-1]
    pointer = registry.champion_pointer()
    assert any(e["event"] == "promoted" and e["at"] == pointer["promoted_at"] for e in registry.events(champion.version_id))
    if rolled_back:
        assert champion.version_id != candidate.version_id
        assert any(e["event"] == "rolled_back" for e in registry.events(candidate.version_id))
    else:
        assert champion.version_id == candidate.version_id, "the candidate did not complete"
    weights = world.weights()
    serving = [name for name, weight in weights.items() if weight == 100]
    assert len(serving) == 1 and champion.version_id in serving[0] and sum(weights.values()) == 100, weights
    artifacts = path_of(world.spec().model_root)
    assert not list(artifacts.rglob(f"{INTERNAL_PREFIX}dir-*")), "a half-written artifact folder is left"
    assert not list(world.tmp.glob("mlprovider-train-*"))


def _run_with_kills(world: World, day: datetime, points: list[KillPoint]) -> None:
    """One DAG run, its worker killed at each point in turn; each retry carries on to the next point."""
    for i, point in enumerate(points):
        _kill_at(world, day, point, "first" if i == 0 else "retry")
    world.run(day, "retry")


def _without_dbt(doc: dict) -> None:
    """The first run's dbt build made the feature table; later runs skip dbt's start-up (minutes in all)."""
    doc["data"].pop("dbt", None)


# A good candidate, killed at every step of its way to champion; then a faulty one, killed in its rollback.
COMPLETING_RUN = [
    KillPoint("train (training child running)", reached=_training_child_running),
    KillPoint("register (done, success not recorded)", fault="promote.register:end"),
    KillPoint("deploy (candidate at 0 %)", fault="promote.deploy:end"),
    KillPoint("rollout at its 50 % step", reached=_rollout_at_first_step),
    KillPoint("rollout after its last step", fault="rollout.rollout:end"),
    KillPoint("finalize (done, success not recorded)", fault="rollout.finalize:end"),
]
ROLLED_BACK_RUN = [
    KillPoint("rollout at its 50 % step", reached=_rollout_at_first_step),
    KillPoint("rollback (done, success not recorded)", fault="rollout.rollback:end"),
]


@pytest.mark.timeout(1800)  # ~12 worker processes, each starting Airflow: minutes on a shared 2-core machine
def test_kill_9_at_each_step_then_retry_leaves_a_consistent_served_registry(
    dags_folder: Path, endpoint_server, tmp_path: Path  # noqa: F811 - fixtures
) -> None:
    world = World(dags_folder, endpoint_server.url, tmp_path / "worker-tmp")
    warehouse = yaml.safe_load((dags_folder / "mlprovider.defaults.yaml").read_text())["warehouse"]["path"]
    with Traffic(world.url, _rows(warehouse)):
        edit_spec(dags_folder, MODEL, _configure(max_iter=3))
        world.run(FIRST_DAY, "first")  # the champion the candidates are rolled out against
        edit_spec(dags_folder, MODEL, _configure(max_iter=100, fault_injection=0.5))
        edit_spec(dags_folder, MODEL, _without_dbt)
        _run_with_kills(world, FIRST_DAY + timedelta(days=1), ROLLED_BACK_RUN)
        _check_consistent(world, rolled_back=True)
        edit_spec(dags_folder, MODEL, _configure(max_iter=200))
        edit_spec(dags_folder, MODEL, _without_dbt)
        _run_with_kills(world, FIRST_DAY + timedelta(days=2), COMPLETING_RUN)
        _check_consistent(world, rolled_back=False)
