"""Shadow variants on the real server: mirrored requests, agreement figures, isolation from live traffic."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_mlprovider.serving.app import ServingLimits
from airflow_mlprovider.serving.client import EndpointClient, EndpointServerError
from airflow_mlprovider.serving.server import EndpointServer
from tests.serving.serving_testing import MODEL_CODE, TOKEN, make_artifact, variant_body

# the test model, but slow (a shadow that cannot keep up) or always failing
SLOW_CODE = MODEL_CODE.replace("def predict(request):", "def predict(request):\n        import time; time.sleep(0.3)")
FAILING_CODE = MODEL_CODE.replace("def predict(request):", "def predict(request):\n        raise RuntimeError('broken')")


def wait_for(condition, timeout_s: float = 10.0):  # noqa: ANN001, ANN201 - a test helper
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def admin(server: EndpointServer) -> EndpointClient:
    return EndpointClient(server.url, TOKEN)


def test_shadow_receives_a_mirror_and_its_agreement_is_recorded(admin: EndpointClient, artifacts: dict[str, Path]) -> None:
    start = time.time() - 1
    admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))  # x * 2
    admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0, shadow=True))  # x * 3
    xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    for x in xs:
        status, variant, body = admin.invoke("sales", {"x": x})
        assert (status, variant, body["prediction"]) == (200, "champion", 2 * x)  # live answers only
    agreement = wait_for(lambda: (admin.shadows("sales", start, time.time() + 1).get("candidate", {})
                                  .get("champion", {"mirrored": 0})["mirrored"] == len(xs))
                         and admin.shadows("sales", start, time.time() + 1)["candidate"]["champion"])
    assert agreement["dropped"] == 0 and agreement["pairs"] == agreement["numeric"] == len(xs)
    assert agreement["same"] == 0
    assert agreement["abs_diff_sum"] == pytest.approx(sum(xs))  # |3x - 2x|
    assert agreement["diff_sum"] == pytest.approx(sum(xs))
    assert agreement["live_mean"] == pytest.approx(2 * sum(xs) / len(xs))
    mean = 2 * sum(xs) / len(xs)
    assert agreement["live_m2"] == pytest.approx(sum((2 * x - mean) ** 2 for x in xs))
    window = admin.window("sales", start, time.time() + 1)
    assert window["candidate"]["requests"] == len(xs) and window["candidate"]["prediction_sum"] == pytest.approx(3 * sum(xs))
    assert window["champion"]["requests"] == len(xs)
    assert admin.endpoint("sales")["variants"]["candidate"]["shadow"] is True


def test_a_shadow_is_deployed_at_weight_0(admin: EndpointClient, artifacts: dict[str, Path]) -> None:
    admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
    with pytest.raises(EndpointServerError, match="HTTP 400.*weight 0"):
        admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 10, shadow=True))


def test_giving_a_shadow_traffic_ends_its_mirror(admin: EndpointClient, artifacts: dict[str, Path]) -> None:
    admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
    admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0, shadow=True))
    generation = admin.fence("sales")
    admin.set_weights("sales", {"champion": 100, "candidate": 0}, generation)  # still at 0: still a shadow
    assert admin.endpoint("sales")["variants"]["candidate"]["shadow"] is True
    admin.set_weights("sales", {"champion": 90, "candidate": 10}, generation)
    assert admin.endpoint("sales")["variants"]["candidate"]["shadow"] is False
    start = time.time() - 1
    served = [admin.invoke("sales", {"x": 1})[1] for _ in range(200)]
    time.sleep(0.2)
    window = admin.window("sales", start, time.time() + 1)
    assert window["candidate"]["requests"] == served.count("candidate")  # its routed share, no mirror on top
    assert admin.shadows("sales", start, time.time() + 1) == {}


def test_a_slow_shadow_never_slows_live_requests_and_drops_are_counted(artifacts: dict[str, Path], tmp_path: Path) -> None:
    slow = make_artifact(tmp_path / "slow", 3.0, SLOW_CODE)
    limits = ServingLimits(shadow_threads=1, max_shadow_pending=2)
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, limits=limits) as server:
        admin = EndpointClient(server.url, TOKEN)
        admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
        admin.put_variant("sales", "slow", variant_body(slow, 0, shadow=True))
        start = time.time() - 1
        began = time.perf_counter()
        statuses = [admin.invoke("sales", {"x": x % 10})[0] for x in range(20)]
        elapsed = time.perf_counter() - began
        assert statuses == [200] * 20
        # 20 mirrored calls of 0.3 s would take 6 s on one thread; live traffic never waited for them
        assert elapsed < 3.0
        agreement = wait_for(lambda: (a := admin.shadows("sales", start, time.time() + 1)["slow"]["champion"])
                             ["mirrored"] + a["dropped"] == 20 and a)
        assert agreement["dropped"] >= 20 - 2 - 2  # at most 2 pending at once (one more may free a slot meanwhile)
        assert agreement["mirrored"] >= 2


def test_a_failing_shadow_is_counted_and_live_answers_are_unaffected(
    admin: EndpointClient, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    failing = make_artifact(tmp_path / "failing", 3.0, FAILING_CODE)
    admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
    admin.put_variant("sales", "broken", variant_body(failing, 0, shadow=True))
    start = time.time() - 1
    assert [admin.invoke("sales", {"x": x})[0] for x in range(10)] == [200] * 10
    window = wait_for(lambda: (w := admin.window("sales", start, time.time() + 1)).get("broken", {}).get("requests") == 10 and w)
    assert window["broken"]["errors_5xx"] == 10 and window["champion"]["errors_5xx"] == 0
    agreement = admin.shadows("sales", start, time.time() + 1)["broken"]["champion"]
    assert (agreement["mirrored"], agreement["pairs"]) == (10, 0)


def test_the_shadow_flag_survives_a_restart(artifacts: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, state_file=state) as server:
        admin = EndpointClient(server.url, TOKEN)
        admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
        admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0, shadow=True))
    assert json.loads(state.read_text())["endpoints"]["sales"]["candidate"]["shadow"] is True
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, state_file=state) as server:
        assert EndpointClient(server.url).endpoint("sales")["variants"]["candidate"]["shadow"] is True


def test_serve_passes_the_shadow_limits_to_the_re_executed_server() -> None:
    import argparse

    from airflow_mlprovider.cli.serve import add_arguments, server_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    passed = server_arguments(parser.parse_args(["--shadow-threads", "2", "--max-shadow-pending", "8"]))
    assert passed[passed.index("--shadow-threads") + 1] == "2" and passed[passed.index("--max-shadow-pending") + 1] == "8"
    with pytest.raises(ValueError, match="shadow_threads <= max_shadow_pending"):
        ServingLimits(shadow_threads=2, max_shadow_pending=1)
