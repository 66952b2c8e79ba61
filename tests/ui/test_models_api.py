"""The Models page's JSON API over a real store: registries, evaluation plots, rollout and monitoring records."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from models_page_data import example_dags_folder, seed_examples

from airflow_mlprovider.backends.local.filesystem_store import path_of
from airflow_mlprovider.plugins import api
from airflow_mlprovider.plugins.model_data import monitoring_series
from airflow_mlprovider.spec import load_specs


def client(dags: Path, readable: Callable[[Any], set[str]] | None = lambda names: set(names)) -> TestClient:
    """The plugin's app over `dags`; `readable` stands for Airflow's auth manager (None: Airflow's own check)."""
    app = api.create_app()
    app.dependency_overrides[api.model_specs] = lambda: load_specs(dags)
    if readable is not None:
        app.dependency_overrides[api.readable_models] = lambda: readable
    return TestClient(app)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return seed_examples(tmp_path_factory.mktemp("models-page"))


def test_the_list_summarises_every_model_of_the_dags_folder(seeded: dict[str, Any]) -> None:
    body = client(seeded["dags"]).get("/api/models").json()
    models = {m["model"]: m for m in body["models"]}
    assert sorted(models) == ["demand_forecast", "tumor_classifier"]
    forecast, tumors = models["demand_forecast"], models["tumor_classifier"]
    assert forecast["champion"]["version_id"] == seeded["champions"]["demand_forecast"].version_id
    assert forecast["champion"]["version"]["metric_value"] == 7.2
    assert (forecast["version_count"], forecast["served"], forecast["metric"]) == (3, True, "rmse")
    assert forecast["last_rollout"]["outcome"] == "complete"
    assert forecast["monitoring"]["status"] == "alarm"
    assert (tumors["served"], tumors["last_rollout"], tumors["monitoring"]["status"]) == (False, None, "ok")
    assert body["invalid_specs"] == []


def test_a_models_page_has_its_versions_plots_rollouts_and_monitoring(seeded: dict[str, Any]) -> None:
    page = client(seeded["dags"]).get("/api/models/demand_forecast").json()
    first, bad, good = seeded["versions"]["demand_forecast"]
    assert [(v["version_id"], v["status"]) for v in page["versions"]] == [
        (good.version_id, "champion"), (bad.version_id, "rolled_back"), (first.version_id, "former_champion")]
    newest = page["versions"][0]
    assert (newest["data_interval_start"], newest["data_interval_end"]) == (
        "2026-11-15T00:00:00+00:00", "2026-11-22T00:00:00+00:00")
    assert newest["evaluation"] == {"plots": ["predicted_vs_actual.png", "residuals.png"], "report": "report.html"}
    assert [e["event"] for e in newest["events"]] == ["promoted"]

    complete, rollback = page["rollouts"]
    assert (complete["outcome"], rollback["outcome"]) == ("complete", "rollback")
    assert [p["action"] for p in complete["points"]] == ["start", "advance", "advance", "complete"]
    assert [p["weight"] for p in complete["points"]] == [5, 25, 50, 100]
    assert complete["points"][0]["rates"]["candidate_5xx"] is None, "no counts at a step's start"
    assert rollback["points"][-1]["rates"]["candidate_5xx"] == pytest.approx(24 / 200)
    assert rollback["points"][-1]["rates"]["champion_5xx"] == pytest.approx(15 / 3800)

    checks, series = page["monitoring"]["checks"], page["monitoring"]["series"]
    assert len(checks) == 24 and [c["status"] for c in checks][-2:] == ["ok", "alarm"]
    assert checks[-1]["alarms"][0]["check"] == "prediction_mean"
    assert {name: len(points) for name, points in series.items()} == {
        "requests": 288, "error_rate_5xx": 288, "p99_latency_ms": 288, "prediction_mean": 288}
    times = [at for at, _ in series["prediction_mean"]]
    assert times == sorted(times) and series["prediction_mean"][-1][1] > 2000
    assert page["problems"] == []


def test_a_model_that_is_not_served_has_no_rollouts(seeded: dict[str, Any]) -> None:
    page = client(seeded["dags"]).get("/api/models/tumor_classifier").json()
    assert (page["served"], page["endpoint"], page["rollouts"]) == (False, None, [])
    assert [v["status"] for v in page["versions"]] == ["rejected", "champion"]
    assert page["versions"][1]["evaluation"]["plots"] == ["confusion_matrix.png", "roc_curve.png"]
    assert len(page["monitoring"]["checks"]) == 6


def test_evaluation_files_are_served_by_name_from_the_versions_folder_only(seeded: dict[str, Any]) -> None:
    web = client(seeded["dags"])
    version = seeded["champions"]["demand_forecast"].version_id
    base = f"/api/models/demand_forecast/versions/{version}/evaluation"
    plot = web.get(f"{base}/residuals.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG")
    report = web.get(f"{base}/report.html")
    assert report.headers["content-security-policy"] == api.REPORT_POLICY
    assert version in report.text
    for missing in (f"{base}/roc_curve.png", f"{base}/metrics.json", f"{base}/..%2F..%2Fregistry%2Fchampion.json",
                    "/api/models/demand_forecast/versions/nope/evaluation/residuals.png"):
        assert web.get(missing).status_code == 404, missing


def test_the_api_needs_an_airflow_user_and_shows_only_readable_models(seeded: dict[str, Any]) -> None:
    anonymous = client(seeded["dags"], readable=None)  # Airflow's get_user: no JWT cookie or bearer token
    assert anonymous.get("/api/models").status_code == 401
    assert anonymous.get("/api/models/demand_forecast").status_code == 401
    assert anonymous.get("/").status_code == 200, "the page itself holds no data"

    tumors_only = client(seeded["dags"], readable=lambda names: set(names) & {"tumor_classifier"})
    assert [m["model"] for m in tumors_only.get("/api/models").json()["models"]] == ["tumor_classifier"]
    assert tumors_only.get("/api/models/demand_forecast").status_code == 404
    assert tumors_only.get("/api/models/tumor_classifier").status_code == 200


def test_every_empty_state_is_an_answer_not_an_error(tmp_path: Path) -> None:
    nothing = tmp_path / "empty"
    nothing.mkdir()
    assert client(nothing).get("/api/models").json()["models"] == []
    assert client(nothing).get("/api/models/demand_forecast").status_code == 404

    dags = example_dags_folder(tmp_path)  # the specs, nothing trained yet
    (dags / "broken.model.yaml").write_text("model: broken\n")
    body = client(dags).get("/api/models").json()
    assert [(m["model"], m["champion"], m["version_count"]) for m in body["models"]] == [
        ("demand_forecast", None, 0), ("tumor_classifier", None, 0)]
    assert [Path(s["file"]).name for s in body["invalid_specs"]] == ["broken.model.yaml"]
    page = client(dags).get("/api/models/demand_forecast").json()
    assert (page["champion"], page["versions"], page["rollouts"]) == (None, [], [])
    assert page["monitoring"] == {"checks": [], "series": {
        "requests": [], "error_rate_5xx": [], "p99_latency_ms": [], "prediction_mean": []}}


def test_an_unreadable_record_is_reported_and_the_rest_still_shown(tmp_path: Path) -> None:
    seeded = seed_examples(tmp_path)
    root = path_of(seeded["specs"]["tumor_classifier"].model_root)
    (root / "monitoring" / "20261130T130000Z.json").write_text("{not json")
    (root / "monitoring" / "reference").mkdir()  # the evaluation's monitoring reference is no check
    (root / "monitoring" / "reference" / "20261115T000000-90db259e.json").write_text('{"prediction": {}}')
    page = client(seeded["dags"]).get("/api/models/tumor_classifier").json()
    assert len(page["monitoring"]["checks"]) == 6
    [problem] = page["problems"]
    assert "20261130T130000Z.json" in problem
    shutil.rmtree(root / "registry")
    assert client(seeded["dags"]).get("/api/models/tumor_classifier").json()["versions"] == []


def test_monitoring_series_join_checks_in_time_order_the_later_check_winning() -> None:
    checks = [
        {"series": {"requests": [["2026-01-01T01:00:00+00:00", 5], ["2026-01-01T00:00:00+00:00", 4]]}},
        {"series": {"requests": [["2026-01-01T01:00:00+00:00", 6]], "unknown": [["x", 1]], "p99_latency_ms": None}},
        {},
    ]
    assert monitoring_series(checks)["requests"] == [["2026-01-01T00:00:00+00:00", 4], ["2026-01-01T01:00:00+00:00", 6]]
    assert "unknown" not in monitoring_series(checks)

