"""deploy, health_check, finalize and rollback against an in-memory endpoint and a real registry on disk.

`MemoryEndpoint` implements the ServingBackend and MetricsSource protocols over dicts, with the same weight
rules as the local endpoint server (set_weights: known variants, each in [0, 100], summing to 100, others 0).
The rollout tests import it from here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow.sdk.exceptions import AirflowException
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_mlprovider.backends.base import StaleFenceError, Variant
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.operators.champion_asset import champion_alias
from airflow_mlprovider.operators.serving import (
    DeployOperator,
    EndpointOperator,
    FinalizeOperator,
    HealthCheckOperator,
    RollbackOperator,
    variant_name,
)
from airflow_mlprovider.registry.store import ModelRegistry, ModelVersion
from airflow_mlprovider.rollout.counts import VariantCounts

ENDPOINT = "churn"
# the upstream tasks whose results the tests hand to the operators, as a DAG passes XComArgs
REGISTER, DEPLOY, HEALTH_CHECK, ROLLOUT = "register", "deploy", "health_check", "rollout"
REQUEST_SCHEMA = {
    "type": "object",
    "required": ["tenure", "plan"],
    "properties": {"tenure": {"type": "integer", "minimum": 0}, "plan": {"enum": ["basic", "pro"]}},
    "additionalProperties": False,
}
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


@dataclass
class Traffic:
    """Simulated traffic for the metrics side: requests per second overall and each variant's error rate."""

    rate: float = 200_000.0
    error_rates: dict[str, float] = field(default_factory=dict)


class MemoryEndpoint:
    """An in-memory endpoint: ServingBackend + MetricsSource with the local server's weight and fencing rules."""

    def __init__(self) -> None:
        self.generations: dict[str, int] = {}
        self.variants: dict[str, dict[str, Variant]] = {}
        self.weights: dict[str, dict[str, float]] = {}
        self.answers: dict[str, Answer] = {}
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self.traffic = Traffic()
        self.history: list[dict[str, float]] = []  # every routing table set, in order

    # ServingBackend
    def describe(self, endpoint: str) -> dict[str, float]:
        return dict(self.weights.get(endpoint, {}))

    def deploy(self, endpoint: str, variant: Variant, weight: float) -> None:
        self.variants.setdefault(endpoint, {})[variant.name] = variant
        self.weights.setdefault(endpoint, {})[variant.name] = float(weight)

    def fence(self, endpoint: str) -> int:
        self.generations[endpoint] = self.generations.get(endpoint, 0) + 1
        return self.generations[endpoint]

    def _check_generation(self, endpoint: str, generation: int | None) -> None:
        if generation is not None and generation < self.generations.get(endpoint, 0):
            raise StaleFenceError(f"generation {generation} < {self.generations[endpoint]} of {endpoint}")

    def set_weights(self, endpoint: str, weights: dict[str, float], generation: int | None = None) -> None:
        self._check_generation(endpoint, generation)
        known = self.weights.get(endpoint, {})
        assert set(weights) == set(known), f"weights must name every variant: {set(weights) ^ set(known)}"
        assert all(0 <= w <= 100 for w in weights.values()), weights
        assert math.isclose(sum(weights.values()), 100.0), f"weights must sum to 100: {weights}"
        self.weights[endpoint] = {name: float(weights.get(name, 0.0)) for name in known}
        self.history.append(dict(self.weights[endpoint]))

    def invoke(self, endpoint: str, variant: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if variant not in self.variants.get(endpoint, {}):
            return 404, {"error": f"no variant {variant}"}
        self.invocations.append((variant, request))
        return self.answers.get(variant, lambda r: (200, {"prediction": 0.5}))(request)

    def remove(self, endpoint: str, variant: str, generation: int | None = None) -> None:
        self._check_generation(endpoint, generation)
        self.variants.get(endpoint, {}).pop(variant, None)
        self.weights.get(endpoint, {}).pop(variant, None)

    # MetricsSource: counts grow with time and the CURRENT weights (a step's window only sees its weight).
    def window(self, endpoint: str, variants: list[str], start: float, end: float) -> dict[str, VariantCounts]:
        weights = self.describe(endpoint)
        out = {}
        for name in variants:
            requests = int(self.traffic.rate * max(end - start, 0.0) * weights.get(name, 0.0) / 100)
            errors = round(requests * self.traffic.error_rates.get(name, 0.01))
            out[name] = VariantCounts(requests=requests, errors_5xx=errors, latency_p99_ms=20.0, prediction_mean=0.5)
        return out

    def only_full_weight(self, endpoint: str = ENDPOINT) -> str:
        """The invariant after finalize/rollback: exactly one variant at 100 %, all others at 0."""
        weights = self.describe(endpoint)
        full = [name for name, w in weights.items() if w == 100.0]
        assert len(full) == 1 and all(w == 0.0 for n, w in weights.items() if n != full[0]), weights
        return full[0]


class FakeTI:
    """The part of a task instance the operators use outside a DAG run: XCom by task id."""

    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = dict(xcoms)

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get(task_ids)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def write_spec(tmp_path: Path, *, rollout: dict | None = None, serving: dict | None = None) -> dict[str, Any]:
    """A spec document (as the factory passes it) with schemas on disk and a file:// artifact root."""
    (tmp_path / "request.schema.json").write_text(json.dumps(REQUEST_SCHEMA))
    (tmp_path / "response.schema.json").write_text(json.dumps({"type": "object"}))
    return {
        "model": "churn",
        "artifact_root": (tmp_path / "artifacts").as_uri(),
        "data": {"sql": "select 1", "split": {"by": "hash", "column": "id"}},
        "code": {
            "module": str(tmp_path / "model.py"),
            "request_schema": str(tmp_path / "request.schema.json"),
            "response_schema": str(tmp_path / "response.schema.json"),
        },
        "evaluate": {"metric": "accuracy", "label": "churned"},
        "serving": {"endpoint": ENDPOINT, **(serving or {})},
        "rollout": rollout or {"steps": [10, 50, 100], "check_interval": "0.05s", "min_requests": 50},
    }


def registry_of(spec: dict[str, Any]) -> ModelRegistry:
    return ModelRegistry(FilesystemArtifactStore(), f"{spec['artifact_root']}/{spec['model']}")


def register(spec: dict[str, Any], day: int) -> ModelVersion:
    """A version trained on data up to 2024-01-<day>."""
    version = ModelVersion(
        version_id=f"202401{day:02d}T000000-{day:08x}",
        model=spec["model"],
        run_id=f"run-{day}",
        artifact_uri=f"{spec['artifact_root']}/churn/runs/run-{day}/artifact",
        data_interval_start=f"2024-01-{day - 1:02d}T00:00:00+00:00",
        data_interval_end=f"2024-01-{day:02d}T00:00:00+00:00",
        metric="accuracy",
        metric_value=0.8,
    )
    return registry_of(spec).register(version)


def arguments(cls: type[EndpointOperator], spec: dict[str, Any], xcoms: dict[str, Any]) -> dict[str, Any]:
    """The operator's arguments: the spec's values and the upstream results (None where a task did not run)."""
    code, serving = spec["code"], spec["serving"]
    keeper = {"model": spec["model"], "registry_uri": f"{spec['artifact_root']}/{spec['model']}",
              "request_schema": code["request_schema"], "response_schema": code["response_schema"]}
    deployed = xcoms.get(DEPLOY) or {}
    if cls is DeployOperator:
        return {**keeper, "version_id": (xcoms.get(REGISTER) or {}).get("version_id"),
                "fault_injection": serving.get("fault_injection", 0.0)}
    if cls is HealthCheckOperator:
        return {"variant": deployed.get("candidate"), "example_requests": serving.get("example_requests"),
                "request_schema": code["request_schema"]}
    if cls is FinalizeOperator:
        return {**keeper, "version_id": deployed.get("version_id"), "previous_champion": deployed.get("champion"),
                "reason": (xcoms.get(ROLLOUT) or {}).get("reason")}
    return {**keeper, "version_id": (xcoms.get(REGISTER) or {}).get("version_id"), "decision": xcoms.get(ROLLOUT),
            "deployed": xcoms.get(DEPLOY), "health_check": xcoms.get(HEALTH_CHECK)}


def operator(cls: type[EndpointOperator], endpoint: MemoryEndpoint, **kwargs: Any) -> EndpointOperator:
    """The real operator, with the in-memory endpoint as its serving backend."""
    bound = type(cls.__name__, (cls,), {"serving": endpoint})
    return bound(task_id=cls.__name__.lower(), endpoint=ENDPOINT, **kwargs)


def context() -> dict[str, Any]:
    return {"ti": FakeTI({}), "run_id": "manual__1", "outlet_events": OutletEventAccessors()}


def run(cls: type[EndpointOperator], spec: dict, endpoint: MemoryEndpoint, xcoms: dict[str, Any],
        run_context: dict[str, Any] | None = None) -> Any:
    return operator(cls, endpoint, **arguments(cls, spec, xcoms)).execute(run_context or context())


@pytest.fixture
def endpoint() -> MemoryEndpoint:
    return MemoryEndpoint()


@pytest.fixture
def spec(tmp_path: Path) -> dict[str, Any]:
    return write_spec(tmp_path)


def test_variant_names_are_safe_for_every_backend() -> None:
    assert variant_name("20240102T000000-ab12cd34") == "v-20240102T000000-ab12cd34"
    assert variant_name("2024_01:02 x") == "v-2024-01-02-x"
    long_a, long_b = variant_name("a" * 80 + "1"), variant_name("a" * 80 + "2")
    assert len(long_a) <= 63 and len(long_b) <= 63 and long_a != long_b


# --- deploy --------------------------------------------------------------------------------------


def test_first_model_is_deployed_at_zero_with_no_champion(spec: dict, endpoint: MemoryEndpoint) -> None:
    candidate = register(spec, 2)
    result = run(DeployOperator, spec, endpoint, {REGISTER: {"version_id": candidate.version_id}})
    name = variant_name(candidate.version_id)
    assert result == {"endpoint": ENDPOINT, "candidate": name, "champion": None, "version_id": candidate.version_id,
                      "generation": 1}
    assert endpoint.describe(ENDPOINT) == {name: 0.0}
    deployed = endpoint.variants[ENDPOINT][name]
    assert deployed.artifact_uri == candidate.artifact_uri
    assert deployed.request_schema_path.endswith("request.schema.json")


def test_candidate_joins_the_champion_at_zero_and_retry_is_idempotent(spec: dict, endpoint: MemoryEndpoint) -> None:
    champion, candidate = register(spec, 2), register(spec, 3)
    registry_of(spec).promote(champion.version_id, "first")
    xcoms = {REGISTER: {"version_id": candidate.version_id}}
    first = run(DeployOperator, spec, endpoint, xcoms)
    again = run(DeployOperator, spec, endpoint, xcoms)
    assert {**first, "generation": None} == {**again, "generation": None}
    assert again["generation"] > first["generation"], "every deploy starts a new weight generation"
    assert first["champion"] == variant_name(champion.version_id)
    assert endpoint.describe(ENDPOINT) == {first["champion"]: 100.0, first["candidate"]: 0.0}


@pytest.mark.parametrize(("requests_per_s", "warned"), [(0.05, True), (200.0, False)])
def test_deploy_warns_when_the_traffic_cannot_decide_the_rollout_in_time(
    spec: dict, endpoint: MemoryEndpoint, requests_per_s: float, warned: bool
) -> None:
    champion, candidate = register(spec, 2), register(spec, 3)
    registry_of(spec).promote(champion.version_id, "first")
    endpoint.traffic = Traffic(rate=requests_per_s)
    announced: list[tuple[str, str, bool]] = []
    bound = type("DeployOperator", (DeployOperator,), {
        "serving": endpoint, "metrics": endpoint,
        "announce": lambda self, model, event, message, alert=False: announced.append((event, message, alert)),
    })
    policy = {**spec["rollout"], "step_timeout": "10m"}
    bound(task_id="deploy", endpoint=ENDPOINT, rollout_policy=policy,
          **arguments(DeployOperator, spec, {REGISTER: {"version_id": candidate.version_id}})).execute(context())
    warnings = [(message, alert) for event, message, alert in announced if event == "deploy.traffic"]
    if warned:
        [(message, alert)] = warnings
        assert alert and "will wait for evidence" in message and "step_timeout 10m" in message
    else:
        assert warnings == []


def test_deploy_restores_a_champion_the_endpoint_lost(spec: dict, endpoint: MemoryEndpoint) -> None:
    champion, candidate = register(spec, 2), register(spec, 3)
    registry_of(spec).promote(champion.version_id, "first")
    # the endpoint restarted empty: the champion comes back at 100 % before the candidate arrives
    result = run(DeployOperator, spec, endpoint, {REGISTER: {"version_id": candidate.version_id}})
    assert endpoint.describe(ENDPOINT) == {result["champion"]: 100.0, result["candidate"]: 0.0}
    assert endpoint.variants[ENDPOINT][result["champion"]].fault_injection == 0.0


def test_fault_injection_applies_to_the_candidate_only(tmp_path: Path, endpoint: MemoryEndpoint) -> None:
    spec = write_spec(tmp_path, serving={"fault_injection": 0.2})
    champion, candidate = register(spec, 2), register(spec, 3)
    registry_of(spec).promote(champion.version_id, "first")
    result = run(DeployOperator, spec, endpoint, {REGISTER: {"version_id": candidate.version_id}})
    assert endpoint.variants[ENDPOINT][result["candidate"]].fault_injection == 0.2
    assert endpoint.variants[ENDPOINT][result["champion"]].fault_injection == 0.0


def test_deploy_resets_a_stale_rollout_to_the_champion(spec: dict, endpoint: MemoryEndpoint) -> None:
    champion, stale, candidate = register(spec, 2), register(spec, 3), register(spec, 4)
    registry_of(spec).promote(champion.version_id, "first")
    run(DeployOperator, spec, endpoint, {REGISTER: {"version_id": stale.version_id}})
    endpoint.set_weights(ENDPOINT, {variant_name(champion.version_id): 50, variant_name(stale.version_id): 50})
    result = run(DeployOperator, spec, endpoint, {REGISTER: {"version_id": candidate.version_id}})
    assert endpoint.only_full_weight() == result["champion"]
    assert endpoint.describe(ENDPOINT)[result["candidate"]] == 0.0


def test_deploy_refuses_an_endpoint_serving_something_else(spec: dict, endpoint: MemoryEndpoint) -> None:
    candidate = register(spec, 2)
    endpoint.deploy(ENDPOINT, Variant("other-model", "file:///x", "/r.json", "/s.json"), 100.0)
    with pytest.raises(AirflowFailException, match="has no champion in its registry"):
        run(DeployOperator, spec, endpoint, {REGISTER: {"version_id": candidate.version_id}})


def test_deploy_of_an_unregistered_version_names_it(spec: dict, endpoint: MemoryEndpoint) -> None:
    with pytest.raises(AirflowException, match="version '20240101T000000-x' is not in the registry"):
        run(DeployOperator, spec, endpoint, {REGISTER: {"version_id": "20240101T000000-x"}})


# --- health check --------------------------------------------------------------------------------


def deployed_xcom(spec: dict, endpoint: MemoryEndpoint, *, with_champion: bool = True) -> dict[str, Any]:
    candidate = register(spec, 3)
    if with_champion:
        champion = register(spec, 2)
        registry_of(spec).promote(champion.version_id, "first")
    return run(DeployOperator, spec, endpoint, {REGISTER: {"version_id": candidate.version_id}})


def test_health_check_sends_generated_requests_to_the_candidate_only(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    result = run(HealthCheckOperator, spec, endpoint, {DEPLOY: deployed})
    assert result == {"variant": deployed["candidate"], "requests": 5, "generated": True}
    assert {variant for variant, _ in endpoint.invocations} == {deployed["candidate"]}
    assert all(set(request) <= {"tenure", "plan"} and "plan" in request for _, request in endpoint.invocations)


def test_health_check_uses_the_spec_examples(tmp_path: Path, endpoint: MemoryEndpoint) -> None:
    examples = [{"tenure": 3, "plan": "pro"}, {"tenure": 0, "plan": "basic"}]
    spec = write_spec(tmp_path, serving={"example_requests": examples})
    deployed = deployed_xcom(spec, endpoint)
    assert run(HealthCheckOperator, spec, endpoint, {DEPLOY: deployed})["generated"] is False
    assert [request for _, request in endpoint.invocations] == examples


def test_health_check_fails_with_the_bad_answers(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    endpoint.answers[deployed["candidate"]] = lambda r: (500, {"error": "boom"}) if r["plan"] == "pro" else (200, {})
    with pytest.raises(AirflowFailException, match=r"requests failed: #\d+: \{.*\"pro\".*\} -> 500 \{\"error\": \"boom\"\}"):
        run(HealthCheckOperator, spec, endpoint, {DEPLOY: deployed})


# --- finalize ------------------------------------------------------------------------------------


def test_finalize_promotes_and_leaves_only_the_candidate(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    endpoint.set_weights(ENDPOINT, {deployed["champion"]: 0, deployed["candidate"]: 100})
    xcoms = {DEPLOY: deployed, ROLLOUT: {"action": "complete", "reason": "3 steps passed"}}
    finalize_context = context()
    result = run(FinalizeOperator, spec, endpoint, xcoms, finalize_context)
    assert result["promoted"] is True
    [event] = finalize_context["outlet_events"][champion_alias("churn")].asset_alias_events
    assert event.dest_asset_key.uri == "mlprovider://churn/champion"
    assert event.extra["version_id"] == deployed["version_id"] and event.extra["metric"] == "accuracy"
    assert endpoint.describe(ENDPOINT) == {deployed["candidate"]: 100.0}
    assert registry_of(spec).champion().version_id == deployed["version_id"]
    assert run(FinalizeOperator, spec, endpoint, xcoms)["promoted"] is True  # a retry changes nothing
    assert endpoint.describe(ENDPOINT) == {deployed["candidate"]: 100.0}


def test_finalize_gives_the_first_model_full_traffic(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint, with_champion=False)
    run(FinalizeOperator, spec, endpoint, {DEPLOY: deployed, ROLLOUT: {"action": "complete", "reason": "first"}})
    assert endpoint.only_full_weight() == deployed["candidate"]


def test_finalize_fences_out_a_stale_rollout(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    endpoint.set_weights(ENDPOINT, {deployed["champion"]: 0, deployed["candidate"]: 100}, generation=deployed["generation"])
    run(FinalizeOperator, spec, endpoint, {DEPLOY: deployed, ROLLOUT: {"action": "complete", "reason": "ok"}})
    with pytest.raises(StaleFenceError):  # a zombie attempt of the rollout still holding the deploy's generation
        endpoint.set_weights(ENDPOINT, {deployed["candidate"]: 100}, generation=deployed["generation"])
    assert endpoint.only_full_weight() == deployed["candidate"]


class IgnoringEndpoint(MemoryEndpoint):
    """An endpoint that accepts weight changes and applies none (what describe() must catch)."""

    def set_weights(self, endpoint: str, weights: dict[str, float], generation: int | None = None) -> None:
        pass


def test_finalize_and_rollback_check_the_endpoint_really_serves_the_champion(spec: dict) -> None:
    endpoint = IgnoringEndpoint()
    deployed = deployed_xcom(spec, endpoint, with_champion=False)
    with pytest.raises(AirflowException, match=r"should serve v-.* at 100 % but reports \{'v-.*': 0.0\}"):
        run(FinalizeOperator, spec, endpoint, {DEPLOY: deployed, ROLLOUT: {"action": "complete", "reason": "ok"}})
    champion = register(spec, 1)
    registry_of(spec).promote(champion.version_id, "seeded")
    with pytest.raises(AirflowException, match="should serve"):
        run(RollbackOperator, spec, endpoint, {REGISTER: {"version_id": deployed["version_id"]}})


def test_finalize_refused_by_a_newer_champion_restores_it(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    newer = register(spec, 9)  # promoted by another run while this candidate (data up to day 3) rolled out
    registry_of(spec).promote(newer.version_id, "a newer run")
    result = run(FinalizeOperator, spec, endpoint, {DEPLOY: deployed, ROLLOUT: {"action": "complete", "reason": "ok"}})
    assert result["promoted"] is False
    assert endpoint.only_full_weight() == variant_name(newer.version_id)
    assert deployed["candidate"] not in endpoint.describe(ENDPOINT)
    assert registry_of(spec).champion().version_id == newer.version_id


# --- rollback ------------------------------------------------------------------------------------


def test_decided_rollback_restores_the_champion_and_is_idempotent(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    endpoint.set_weights(ENDPOINT, {deployed["champion"]: 75, deployed["candidate"]: 25})
    xcoms = {
        REGISTER: {"version_id": deployed["version_id"]},
        DEPLOY: deployed,
        HEALTH_CHECK: {"requests": 5},
        ROLLOUT: {"action": "rollback", "reason": "candidate 5xx 9.8 % vs 1.0 %"},
    }
    for _attempt in range(2):
        result = run(RollbackOperator, spec, endpoint, xcoms)
        assert result == {"rolled_back": True, "champion": deployed["champion"], "reason": "candidate 5xx 9.8 % vs 1.0 %"}
        assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100.0}
    with pytest.raises(StaleFenceError):  # the rollout's generation can no longer move traffic
        endpoint.set_weights(ENDPOINT, {deployed["champion"]: 100}, generation=deployed["generation"])
    events = [e["event"] for e in registry_of(spec).events(deployed["version_id"])]
    assert events.count("rolled_back") == 2


@pytest.mark.parametrize(
    ("done", "cause"),
    [
        ({}, "the deploy task did not complete"),
        ({DEPLOY}, "the candidate did not pass its health check"),
        ({DEPLOY, HEALTH_CHECK}, "the rollout failed or timed out before reaching a decision"),
    ],
)
def test_rollback_after_a_failure_repairs_then_fails(
    spec: dict, endpoint: MemoryEndpoint, done: set, cause: str
) -> None:
    deployed = deployed_xcom(spec, endpoint)
    endpoint.set_weights(ENDPOINT, {deployed["champion"]: 50, deployed["candidate"]: 50})
    all_xcoms = {DEPLOY: deployed, HEALTH_CHECK: {"requests": 5}}
    xcoms = {REGISTER: {"version_id": deployed["version_id"]}, **{k: v for k, v in all_xcoms.items() if k in done}}
    with pytest.raises(AirflowFailException, match=f"endpoint repaired .*; failing because {cause}"):
        run(RollbackOperator, spec, endpoint, xcoms)
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100.0}
    [event] = registry_of(spec).events(deployed["version_id"])[-1:]
    assert (event["event"], event["reason"], event["details"]["decided"]) == ("rolled_back", cause, False)


def test_rollback_redeploys_a_lost_champion_and_tolerates_a_missing_candidate(
    spec: dict, endpoint: MemoryEndpoint
) -> None:
    deployed = deployed_xcom(spec, endpoint)
    endpoint.variants.clear()
    endpoint.weights.clear()  # the endpoint lost everything
    xcoms = {REGISTER: {"version_id": deployed["version_id"]}, ROLLOUT: {"action": "rollback", "reason": "bad"}}
    run(RollbackOperator, spec, endpoint, xcoms)
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100.0}


def test_rollback_of_a_first_model_empties_the_endpoint(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint, with_champion=False)
    xcoms = {REGISTER: {"version_id": deployed["version_id"]}, ROLLOUT: {"action": "rollback", "reason": "bad"}}
    assert run(RollbackOperator, spec, endpoint, xcoms)["champion"] is None
    assert endpoint.describe(ENDPOINT) == {}


def test_rollback_never_removes_a_finalized_champion(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    run(FinalizeOperator, spec, endpoint, {DEPLOY: deployed, ROLLOUT: {"action": "complete", "reason": "ok"}})
    result = run(RollbackOperator, spec, endpoint, {REGISTER: {"version_id": deployed["version_id"]}})
    assert result == {"rolled_back": False, "champion": deployed["candidate"], "reason": "already the champion"}
    assert endpoint.only_full_weight() == deployed["candidate"]


def test_rollback_skips_when_nothing_was_registered(spec: dict, endpoint: MemoryEndpoint) -> None:
    with pytest.raises(AirflowSkipException, match="nothing to roll back"):
        run(RollbackOperator, spec, endpoint, {})


def test_memory_endpoint_metrics_follow_the_weights(endpoint: MemoryEndpoint) -> None:
    endpoint.deploy(ENDPOINT, Variant("a", "file:///a", "/r", "/s"), 0)
    endpoint.deploy(ENDPOINT, Variant("b", "file:///b", "/r", "/s"), 0)
    endpoint.set_weights(ENDPOINT, {"a": 90, "b": 10})
    endpoint.traffic.error_rates["b"] = 0.1
    start = time.time()
    counts = endpoint.window(ENDPOINT, ["a", "b"], start, start + 1.0)
    assert counts["a"].requests == 180_000 and counts["b"].requests == 20_000
    assert counts["b"].errors_5xx == 2_000
