"""The endpoint server over real HTTP: routing, validation, errors, admin API, token, fault injection, state."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from airflow_mlprovider.serving.client import EndpointClient
from airflow_mlprovider.serving.server import EndpointServer

from tests.serving.serving_testing import TOKEN, make_artifact, variant_body


def binomial_bounds(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    spread = sigmas * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


@pytest.fixture
def admin(server: EndpointServer) -> EndpointClient:
    return EndpointClient(server.url, TOKEN)


@pytest.fixture
def two_variants(admin: EndpointClient, artifacts: dict[str, Path]) -> EndpointClient:
    admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
    admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0))
    return admin


def test_weights_are_honoured_within_binomial_bounds(two_variants: EndpointClient) -> None:
    two_variants.set_weights("sales", {"champion": 90, "candidate": 10})
    served = {"champion": 0, "candidate": 0}
    for i in range(2000):
        status, variant, body = two_variants.invoke("sales", {"x": i % 7})
        assert status == 200
        served[variant] += 1
        assert body["prediction"] == (i % 7) * (2.0 if variant == "champion" else 3.0)
    low, high = binomial_bounds(2000, 0.10)
    assert low <= served["candidate"] <= high
    assert served["champion"] + served["candidate"] == 2000


def test_zero_weight_variant_gets_no_routed_traffic_but_answers_probes(two_variants: EndpointClient) -> None:
    assert {two_variants.invoke("sales", {"x": 1})[1] for _ in range(50)} == {"champion"}
    assert two_variants.invoke("sales", {"x": 1}, variant="candidate") == (200, "candidate", {"prediction": 3.0, "label": "ok"})


def test_request_schema_violation_is_400_for_the_chosen_variant(two_variants: EndpointClient) -> None:
    status, variant, body = two_variants.invoke("sales", {"x": "seven"})
    assert (status, variant) == (400, "champion")
    assert "request schema" in body["error"] and "'seven' is not of type 'number'" in body["error"]
    status, _, body = two_variants.invoke("sales", {"y": 1})
    assert status == 400 and "'x' is a required property" in body["error"]


def test_response_schema_violation_is_502(two_variants: EndpointClient) -> None:
    status, variant, body = two_variants.invoke("sales", {"x": 99})
    assert (status, variant) == (502, "champion")
    assert "response schema" in body["error"]


def test_model_exception_is_500_and_the_server_keeps_serving(two_variants: EndpointClient) -> None:
    status, variant, body = two_variants.invoke("sales", {"x": 13})
    assert (status, variant) == (500, "champion")
    assert body == {"error": "model raised ValueError: unlucky input"}
    assert two_variants.invoke("sales", {"x": 4}) == (200, "champion", {"prediction": 8.0, "label": "ok"})


def test_unknown_endpoint_variant_and_route(two_variants: EndpointClient) -> None:
    assert two_variants.invoke("nope", {"x": 1})[0] == 404
    assert two_variants.invoke("sales", {"x": 1}, variant="nope")[0] == 404
    assert two_variants.endpoint("nope") is None
    assert two_variants.request("GET", "/nowhere")[0] == 404
    assert two_variants.request("GET", "/endpoints/sales/invocations")[0] == 405
    status, _, body = two_variants.request("POST", "/endpoints/sales/invocations")
    assert status == 400


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_admin_api_needs_the_token_and_changes_nothing_without_it(
    two_variants: EndpointClient, artifacts: dict[str, Path], server: EndpointServer, token: str | None
) -> None:
    before = two_variants.endpoint("sales")
    intruder = EndpointClient(server.url, token)
    calls = [
        ("PUT", "/admin/endpoints/sales/weights", {"champion": 0, "candidate": 100}),
        ("PUT", "/admin/endpoints/sales/variants/evil", variant_body(artifacts["candidate"], 100)),
        ("DELETE", "/admin/endpoints/sales/variants/champion", None),
    ]
    for method, path, body in calls:
        status, headers, payload = intruder.request(method, path, body, admin=True)
        assert status == 401, payload
        assert headers["WWW-Authenticate"] == "Bearer"
    assert two_variants.endpoint("sales") == before


def test_without_a_configured_token_the_admin_api_refuses_everything(artifacts: dict[str, Path]) -> None:
    with EndpointServer("127.0.0.1", 0, admin_token=None) as open_server:
        for token in (None, "", "anything"):
            status, _, body = EndpointClient(open_server.url, token).request(
                "PUT", "/admin/endpoints/e/variants/v", variant_body(artifacts["champion"], 100), admin=True
            )
            assert status == 403
            assert "admin API is disabled" in body["error"]
        assert EndpointClient(open_server.url).endpoint("e") is None


def test_tampered_artifact_is_refused_and_the_endpoint_keeps_serving(
    two_variants: EndpointClient, tmp_path: Path
) -> None:
    tampered = make_artifact(tmp_path / "tampered", 5.0)
    (tampered / "model" / "params.json").write_text(json.dumps({"factor": 500.0}))
    status, _, body = two_variants.request(
        "PUT", "/admin/endpoints/sales/variants/champion", variant_body(tampered, 100), admin=True
    )
    assert status == 422
    assert "refused artifact" in body["error"] and "model/params.json" in body["error"]
    assert two_variants.invoke("sales", {"x": 1}) == (200, "champion", {"prediction": 2.0, "label": "ok"})

    unsigned = make_artifact(tmp_path / "unsigned", 5.0)
    (unsigned / "MANIFEST.json").unlink()
    status, _, body = two_variants.request(
        "PUT", "/admin/endpoints/sales/variants/other", variant_body(unsigned, 0), admin=True
    )
    assert status == 422 and "unverified" in body["error"]
    assert set(two_variants.endpoint("sales")["variants"]) == {"champion", "candidate"}


def test_a_variant_is_served_from_its_verified_copy(two_variants: EndpointClient, artifacts: dict[str, Path]) -> None:
    # editing the source after deployment changes nothing that is served
    (artifacts["champion"] / "model" / "params.json").write_text(json.dumps({"factor": 1000.0}))
    assert two_variants.invoke("sales", {"x": 1})[2] == {"prediction": 2.0, "label": "ok"}


def test_invalid_admin_bodies_are_400_with_what_is_allowed(two_variants: EndpointClient, artifacts: dict[str, Path]) -> None:
    bad_bodies = {
        "missing": {"artifact_uri": artifacts["champion"].as_uri()},
        "extra": {**variant_body(artifacts["champion"]), "colour": "red"},
        "weight": variant_body(artifacts["champion"], 150),
        "schema": {**variant_body(artifacts["champion"]), "request_schema": {"type": "nonsense"}},
        "scheme": {**variant_body(artifacts["champion"]), "artifact_uri": "gs://bucket/model"},  # s3:// is read (tests/distributed)
    }
    for case, body in bad_bodies.items():
        status, _, payload = two_variants.request("PUT", "/admin/endpoints/sales/variants/x", body, admin=True)
        assert status == 400, case
        assert payload["error"], case
    status, _, payload = two_variants.request(
        "PUT", "/admin/endpoints/sales/variants/x", variant_body(Path("/does/not/exist")), admin=True
    )
    assert status == 422 and "does not exist" in payload["error"]


def test_set_weights_rules(two_variants: EndpointClient) -> None:
    for weights, message in [
        ({"champion": 50, "ghost": 50}, "unknown variant(s) ['ghost']"),
        ({"champion": 60, "candidate": 30}, "must sum to 100, got 90"),
        ({"champion": 0, "candidate": 0}, "must sum to 100, got 0"),
        ({"champion": 110, "candidate": -10}, "within [0, 100]"),
        ({}, "JSON object of variant name -> percent"),
    ]:
        status, _, body = two_variants.request("PUT", "/admin/endpoints/sales/weights", weights, admin=True)
        assert status == 400 and message in body["error"], (weights, body)
    two_variants.set_weights("sales", {"candidate": 100})  # a variant not named gets 0
    described = two_variants.endpoint("sales")["variants"]
    assert {n: v["traffic_percent"] for n, v in described.items()} == {"champion": 0.0, "candidate": 100.0}


def test_put_is_idempotent_and_delete_of_an_absent_variant_is_204(
    two_variants: EndpointClient, artifacts: dict[str, Path]
) -> None:
    body = variant_body(artifacts["candidate"], 0, fault_injection=0.5, prediction_field="prediction")
    first = two_variants.put_variant("sales", "candidate", body)
    second = two_variants.put_variant("sales", "candidate", body)
    assert first["manifest_digest"] == second["manifest_digest"]
    assert two_variants.endpoint("sales")["variants"]["candidate"]["fault_injection"] == 0.5
    assert two_variants.request("DELETE", "/admin/endpoints/sales/variants/ghost", admin=True)[0] == 204
    two_variants.delete_variant("sales", "candidate")
    two_variants.delete_variant("sales", "candidate")
    assert set(two_variants.endpoint("sales")["variants"]) == {"champion"}
    two_variants.delete_variant("sales", "champion")
    assert two_variants.endpoint("sales") is None


def test_fault_injection_hits_that_fraction_of_routed_requests_only(two_variants: EndpointClient, artifacts: dict[str, Path]) -> None:
    two_variants.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0, fault_injection=0.2))
    two_variants.set_weights("sales", {"candidate": 100})
    statuses = [two_variants.invoke("sales", {"x": 1})[0] for _ in range(1000)]
    assert set(statuses) == {200, 503}
    low, high = binomial_bounds(1000, 0.2)
    assert low <= statuses.count(503) <= high
    assert {two_variants.invoke("sales", {"x": 1}, variant="candidate")[0] for _ in range(100)} == {200}


def test_endpoint_without_weight_is_503(admin: EndpointClient, artifacts: dict[str, Path]) -> None:
    admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0))
    status, variant, body = admin.invoke("sales", {"x": 1})
    assert (status, variant) == (503, None)
    assert "no variant with a weight above 0" in body["error"]


def test_state_file_restores_variants_and_weights_after_a_restart(artifacts: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "state" / "endpoints.json"
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, state_file=state) as first:
        admin = EndpointClient(first.url, TOKEN)
        admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
        admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0, prediction_field="prediction"))
        admin.set_weights("sales", {"champion": 75, "candidate": 25})
        served_before = admin.endpoint("sales")
    assert json.loads(state.read_text())["endpoints"]["sales"]["candidate"]["weight"] == 25.0
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, state_file=state) as second:
        client = EndpointClient(second.url)
        served_after = client.endpoint("sales")
        assert {n: (v["weight"], v["manifest_digest"], v["prediction_field"]) for n, v in served_after["variants"].items()} == {
            n: (v["weight"], v["manifest_digest"], v["prediction_field"]) for n, v in served_before["variants"].items()
        }
        assert client.invoke("sales", {"x": 2}, variant="candidate")[2] == {"prediction": 6.0, "label": "ok"}


def test_a_restart_leaves_out_a_variant_tampered_since(artifacts: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "endpoints.json"
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, state_file=state) as first:
        admin = EndpointClient(first.url, TOKEN)
        admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
        admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0))
    (artifacts["candidate"] / "model" / "params.json").write_text(json.dumps({"factor": -1}))
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, state_file=state) as second:
        assert set(EndpointClient(second.url).endpoint("sales")["variants"]) == {"champion"}


def test_fences_refuse_stale_generations_and_persist_across_a_restart(artifacts: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "endpoints.json"
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, state_file=state) as first:
        admin = EndpointClient(first.url, TOKEN)
        assert admin.fence("sales") == 1  # before any variant: deploy fences first
        admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
        admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0))
        assert admin.fence("sales") == 2
        admin.set_weights("sales", {"champion": 50, "candidate": 50}, generation=2)
        assert admin.endpoint("sales")["generation"] == 2
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, state_file=state) as second:
        admin = EndpointClient(second.url, TOKEN)
        for generation in (1, 3, 0):  # older, never issued: refused alike
            status, _, body = admin.request("PUT", f"/admin/endpoints/sales/weights?generation={generation}",
                                            {"champion": 100}, admin=True)
            assert status == 409 and f"stale generation {generation}" in body["error"]
        status, _, body = admin.request("DELETE", "/admin/endpoints/sales/variants/candidate?generation=1", admin=True)
        assert status == 409
        assert admin.request("PUT", "/admin/endpoints/sales/weights?generation=two", {"champion": 100}, admin=True)[0] == 400
        assert {n: v["weight"] for n, v in admin.endpoint("sales")["variants"].items()} == {"champion": 50, "candidate": 50}
        assert admin.fence("sales") == 3
        admin.delete_variant("sales", "candidate", generation=3)
        admin.delete_variant("sales", "champion", generation=3)
        assert admin.fence("sales") == 4  # the endpoint is gone; its generations still only grow


def test_no_admin_change_leaves_a_serving_endpoint_at_all_zero_weights(two_variants: EndpointClient, artifacts: dict[str, Path]) -> None:
    status, _, body = two_variants.request("PUT", "/admin/endpoints/sales/variants/champion", variant_body(artifacts["champion"], 0), admin=True)
    assert status == 400 and "at weight 0" in body["error"]
    status, _, body = two_variants.request("DELETE", "/admin/endpoints/sales/variants/champion", admin=True)
    assert status == 400 and "at weight 0" in body["error"]
    assert two_variants.invoke("sales", {"x": 1})[:2] == (200, "champion")
