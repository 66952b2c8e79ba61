"""A worker for the fault-injection suite: runs one generated DAG run with dag.test() in this process.

    python -m tests.faults.dag_worker DAGS_FOLDER MODEL LOGICAL_DATE first|retry [TASK_ID:start|end] [MARKER]

`first` runs the run from scratch. `retry` does what Airflow does after a worker died: the task instances the
dead worker held (running, deferred, queued) go back to be scheduled, and the run carries on from there with
every finished task's state and XCom kept (dag.test() would otherwise clear the run).

With a fault point, the worker stops for good when that task starts (`start`) or when it has done all its work
but before its success is recorded (`end`), writes MARKER, and waits to be killed with SIGKILL.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from unittest import mock

import pluggy

hookimpl = pluggy.HookimplMarker("airflow")
DEAD_WORKER_STATES = ("running", "deferred", "queued", "scheduled", "up_for_retry", "restarting")


class FaultPoint:
    """A task-instance listener that parks the worker at one point of one task."""

    def __init__(self, task_id: str, phase: str, marker: Path) -> None:
        self.task_id, self.phase, self.marker = task_id, phase, marker

    def _maybe_stop(self, task_instance, phase: str) -> None:
        if task_instance.task_id == self.task_id and phase == self.phase:
            self.marker.write_text(f"{self.task_id}:{phase}")
            time.sleep(3600)

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance) -> None:
        self._maybe_stop(task_instance, "start")

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance) -> None:
        self._maybe_stop(task_instance, "end")


def _requeue_dead_workers_tasks(dag_id: str) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                                     TaskInstance.state.in_(DEAD_WORKER_STATES)):
            ti.state = None
            ti.next_method = ti.next_kwargs = ti.trigger_id = None


def main(folder: str, model: str, logical_date: str, mode: str, fault: str = "", marker: str = "") -> str:
    from airflow.sdk.listener import get_listener_manager
    from airflow.serialization.definitions.dag import SerializedDAG

    from airflow_mlprovider.factory import load_dags

    if fault:
        task_id, phase = fault.rsplit(":", 1)
        get_listener_manager().add_listener(FaultPoint(task_id, phase, Path(marker)))
    namespace: dict = {}
    load_dags(str(Path(folder) / "mlprovider_dags.py"), namespace)
    dag = namespace[model]
    day = datetime.fromisoformat(logical_date)
    if mode == "retry":
        _requeue_dead_workers_tasks(dag.dag_id)
        with mock.patch.object(SerializedDAG, "clear_dags"):  # keep the run: finished tasks stay finished
            run = dag.test(logical_date=day, run_after=day)  # the same run id as the first attempt
    else:
        run = dag.test(logical_date=day, run_after=day)
    return str(run.state)


if __name__ == "__main__":
    print("RUN STATE", main(*sys.argv[1:]), flush=True)
