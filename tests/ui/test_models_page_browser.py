"""The Models page in a real headless Chromium, inside a real Airflow API server with the plugin loaded.

The server runs on 127.0.0.1 with the simple auth manager (every user an admin, so no login form) over the
session's metadata DB, and a dags folder holding the example specs with a seeded store (models_page_data).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from models_page_data import example_dags_folder, seed_examples
from test_models_api import client

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 180  # a loaded 2-core machine; ~15 s when idle

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make sysdeps)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def airflow_ui(airflow_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An `airflow api-server` serving the Airflow UI with the plugin, over a seeded example dags folder."""
    root = tmp_path_factory.mktemp("models-page-server")
    seeded = seed_examples(root)
    port = free_port()
    base = f"http://127.0.0.1:{port}/airflow"  # under a sub-path, as behind a reverse proxy: links must be relative
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(seeded["dags"]), "AIRFLOW__API__BASE_URL": base,
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    log = (root / "api-server.log").open("w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "api-server", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (root / "api-server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the API server did not answer in time"
                time.sleep(0.5)
        yield {"base": base, "root": root, **seeded}
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def series_points(frame: Any, section: str) -> list[int]:
    """The number of data points each drawn series of a section's charts holds."""
    return [int(n) for n in frame.locator(f"#{section} svg.mlp-chart path.series").evaluate_all(
        "paths => paths.map(p => p.getAttribute('data-points'))")]


def empty_states(page: Any, airflow_ui: dict[str, Any]) -> None:
    """The page's messages for no models and for a model never trained: the API's real answers (over a dags
    folder with nothing trained, and an empty one) routed to the page in place of the server's."""
    from playwright.sync_api import expect

    untrained = client(example_dags_folder(airflow_ui["root"] / "untrained"))
    answers = {"api/models": untrained.get("/api/models").json(),
               "api/models/demand_forecast": untrained.get("/api/models/demand_forecast").json()}
    page.route("**/mlprovider/api/**", lambda route: route.fulfill(
        json=answers[route.request.url.split("/mlprovider/", 1)[1].split("?")[0]]))
    page.goto("about:blank")
    page.goto(f"{airflow_ui['base']}/mlprovider/#demand_forecast")
    expect(page.locator("#model[data-model='demand_forecast']")).to_have_count(1, timeout=30_000)
    for section, message in (("champion", "No champion yet"), ("versions", "No version registered yet"),
                             ("rollouts", "No rollout recorded yet"), ("monitoring", "No monitoring check")):
        expect(page.locator(f"#{section}")).to_contain_text(message)
    nothing = airflow_ui["root"] / "no-specs"
    nothing.mkdir()
    answers["api/models"] = client(nothing).get("/api/models").json()
    page.goto(f"{airflow_ui['base']}/mlprovider/")
    expect(page.locator("#model")).to_contain_text("No model specs (*.model.yaml) in the dags folder")
    page.unroute("**/mlprovider/api/**")


def test_the_models_page_shows_both_example_models_with_their_charts(
    airflow_ui: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = request.config.getoption("--models-page-screenshots")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text} ({m.location})"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: "/mlprovider/" in r.url and r.status >= 400
                    and problems.append(f"HTTP {r.status} {r.url}"))
            page.goto(airflow_ui["base"] + "/")  # the simple auth manager signs the browser in (JWT cookie)

            nav = page.locator("a[href$='plugin/models']")
            expect(nav).to_have_count(1, timeout=60_000)
            expect(nav).to_contain_text("Models")
            nav.click()
            frame = page.frame_locator("iframe[src^='mlprovider/']")
            models = frame.locator("#model-list a[data-model]")
            expect(models).to_have_count(2, timeout=60_000)
            assert models.evaluate_all("links => links.map(a => a.dataset.model)") == [
                "demand_forecast", "tumor_classifier"]

            forecast = airflow_ui["champions"]["demand_forecast"].version_id
            expect(frame.locator("#champion")).to_contain_text(forecast, timeout=30_000)
            expect(frame.locator("tr.version")).to_have_count(3)
            expect(frame.locator("tr.version.selected")).to_have_attribute("data-version", forecast)
            plots = frame.locator("#diagnostics img")
            expect(plots).to_have_count(2)
            plots.evaluate_all("imgs => Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode(); }))")
            assert all(w > 0 for w in plots.evaluate_all("imgs => imgs.map(i => i.naturalWidth)"))
            # two rollouts: weight and error-rate charts each, decision markers on every chart
            expect(frame.locator("#rollouts .rollout")).to_have_count(2)
            assert series_points(frame, "rollouts") == [4, 3, 3, 3, 3, 2, 1, 1, 1, 1]
            assert frame.locator("#rollouts svg.mlp-chart g.marker").count() == 4 * 2 + 2 * 2
            assert series_points(frame, "monitoring") == [288, 288, 288, 288]
            expect(frame.locator("#monitoring")).to_contain_text("prediction_mean")
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{shots}/models-page.png")

            frame.locator("#model-list a[data-model='tumor_classifier']").click()
            expect(frame.locator("#model[data-model='tumor_classifier']")).to_have_count(1, timeout=30_000)
            expect(frame.locator("tr.version")).to_have_count(2)
            expect(frame.locator("#rollouts")).to_contain_text("not served")
            expect(frame.locator("#diagnostics img")).to_have_count(2)
            assert series_points(frame, "monitoring") == [72, 72, 72, 72]

            if shots:  # the page on its own, whole, for the documentation
                for model in ("tumor_classifier", "demand_forecast"):
                    page.goto(f"{airflow_ui['base']}/mlprovider/#{model}")
                    expect(page.locator(f"#model[data-model='{model}']")).to_have_count(1, timeout=30_000)
                    page.locator("#diagnostics img").evaluate_all(
                        "imgs => Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode(); }))")
                    page.screenshot(path=f"{shots}/models-page-{model}.png", full_page=True)
                page.locator("#monitoring").screenshot(path=f"{shots}/models-page-monitoring.png")
                page.locator("#rollouts").screenshot(path=f"{shots}/models-page-rollouts.png")
            empty_states(page, airflow_ui)
        finally:
            browser.close()
    assert problems == []
