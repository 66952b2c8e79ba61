"""The shadow stage end to end: a local endpoint server under live traffic, the candidate deployed as a shadow
through the serving backend, and a DAG running ShadowOperator with dag.test() (deferral included). An agreeing
candidate passes and stays a shadow at 0 %; one whose predictions are offset is blocked and removed, and the
champion serves 100 % throughout."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.integration.conftest import states
from tests.serving.serving_testing import MODEL_CODE, REQUEST_SCHEMA, RESPONSE_SCHEMA, make_artifact

ENDPOINT = "shadow-test"
POLICY = {"min_requests": 60, "check_interval": 1, "max_duration": "1m"}
OFFSET_CODE = MODEL_CODE.replace('request["x"] * factor', 'request["x"] * factor + 100')


class Traffic:
    """Live requests sent continuously until stopped; tallies (status, variant)."""

    def __init__(self, url: str) -> None:
        from airflow_mlprovider.serving.client import EndpointClient

        self.client, self.seen, self.stop = EndpointClient(url, timeout_s=10), Counter(), threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        rng = random.Random(1)
        while not self.stop.wait(0.005):
            status, variant, _ = self.client.invoke(ENDPOINT, {"x": rng.uniform(0, 10)})
            self.seen[(status, variant)] += 1

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def _variant(tmp_path: Path, name: str, factor: float, code: str = MODEL_CODE, shadow: bool = False):
    from airflow_mlprovider.backends.base import Variant

    schemas = tmp_path / "schemas"
    schemas.mkdir(exist_ok=True)
    (schemas / "request.json").write_text(json.dumps(REQUEST_SCHEMA))
    (schemas / "response.json").write_text(json.dumps(RESPONSE_SCHEMA))
    artifact = make_artifact(tmp_path / name, factor, code)
    return Variant(name=name, artifact_uri=artifact.as_uri(), request_schema_path=str(schemas / "request.json"),
                   response_schema_path=str(schemas / "response.json"), shadow=shadow)


DAG_FILE = f"""
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_mlprovider.operators.shadow import ShadowOperator

for candidate in ("agreeing", "offset"):
    with DAG(dag_id=f"shadow_{{candidate}}", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc)) as dag:
        ShadowOperator(task_id="shadow", endpoint="{ENDPOINT}", candidate=candidate, champion="champion",
                       generation="{{{{ dag_run.conf['generation'] }}}}", shadow_policy={POLICY!r}, metric="rmse",
                       model="shadow_test")
    globals()[dag.dag_id] = dag
"""


@pytest.fixture
def shadow_dags(airflow_db: str) -> Iterator[dict]:
    """Two one-task DAGs in the configured dags folder (dag.test() finds a DAG through its bundle)."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    dag_file = folder / "shadow_test_dags.py"
    dag_file.write_text(DAG_FILE)
    bag = DagBag(str(folder))
    assert not bag.import_errors, bag.import_errors
    yield bag.dags
    dag_file.unlink()  # the dags folder is shared with the session's other DAG tests


def test_shadow_stage_passes_an_agreeing_candidate_and_blocks_a_disagreeing_one(
    shadow_dags: dict, endpoint_server, tmp_path: Path
) -> None:
    from airflow_mlprovider.backends.local.endpoint_server import LocalEndpointServing

    serving = LocalEndpointServing()
    serving.deploy(ENDPOINT, _variant(tmp_path, "champion", 2.0), 100.0)
    with Traffic(endpoint_server.url) as traffic:
        # 1. A candidate within 1 % of the champion: passes, and stays a shadow at 0 % for the rollout to start.
        generation = serving.fence(ENDPOINT)
        serving.deploy(ENDPOINT, _variant(tmp_path, "agreeing", 2.02, shadow=True), 0.0)
        run = shadow_dags["shadow_agreeing"].test(logical_date=datetime(2025, 6, 1, tzinfo=timezone.utc),
                                                  run_conf={"generation": generation})
        assert run.state == "success", states(run)
        verdict = run.get_task_instance("shadow").xcom_pull(task_ids="shadow")
        assert verdict["action"] == "pass" and verdict["figures"]["relative_difference"] < 0.05, verdict
        assert verdict["figures"]["candidate"]["requests"] >= POLICY["min_requests"]
        assert serving.describe(ENDPOINT) == {"champion": 100.0, "agreeing": 0.0}
        serving.remove(ENDPOINT, "agreeing", generation)

        # 2. A candidate whose predictions are 100 higher (many standard deviations): blocked and removed.
        generation = serving.fence(ENDPOINT)
        serving.deploy(ENDPOINT, _variant(tmp_path, "offset", 2.0, OFFSET_CODE, shadow=True), 0.0)
        run = shadow_dags["shadow_offset"].test(logical_date=datetime(2025, 6, 2, tzinfo=timezone.utc),
                                                run_conf={"generation": generation})
        assert states(run) == {"shadow": "failed"}
        # removed by the failed verdict itself (nothing else removes it): the champion alone serves
        assert serving.describe(ENDPOINT) == {"champion": 100.0}
    # live users only ever got the champion's answers, all of them 200
    assert set(traffic.seen) == {(200, "champion")}, traffic.seen
