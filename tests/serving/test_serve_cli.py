"""`mlprovider serve` as a real process: token from env or connection, state file across a restart, clean stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from airflow_mlprovider.cli import main
from airflow_mlprovider.serving.client import EndpointClient
from tests.serving.serving_testing import PROBING_MODEL_CODE, PROBING_REQUEST_SCHEMA, TOKEN, make_artifact, variant_body


@contextmanager
def serve(*args: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen, list[str]]]:
    """Run `mlprovider serve --port 0 ...`; yields the URL it announces, the process and what it said before."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_mlprovider.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env},
    )
    before: list[str] = []
    try:
        for line in proc.stdout:  # Airflow may log to stdout first (reading a connection)
            if line.startswith("mlprovider endpoint server on http://127.0.0.1:"):
                break
            before.append(line)
        else:
            pytest.fail(f"mlprovider serve exited with {proc.wait()} before it served")
        yield line.split()[4], proc, before
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        proc.stdout.close()


def test_serve_keeps_its_variants_across_a_restart(artifacts: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "serve-state.json"
    env = {"MLPROVIDER_ENDPOINT_TOKEN": TOKEN}
    with serve("--state-file", str(state), env=env) as (url, proc, _):
        admin = EndpointClient(url, TOKEN)
        admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
        assert admin.invoke("sales", {"x": 1})[0] == 200
    assert proc.returncode == 0  # SIGTERM stops it like Ctrl-C
    assert set(json.loads(state.read_text())["endpoints"]["sales"]) == {"champion"}
    with serve("--state-file", str(state), env=env) as (url, _, _):
        assert EndpointClient(url).invoke("sales", {"x": 2}) == (200, "champion", {"prediction": 4.0, "label": "ok"})


def test_serve_reads_the_token_from_an_airflow_connection(artifacts: dict[str, Path]) -> None:
    env = {"AIRFLOW_CONN_SERVE_TEST_TOKEN": json.dumps({"conn_type": "generic", "password": "from-connection"})}
    with serve("--conn-id", "serve_test_token", env=env) as (url, _, _):
        assert EndpointClient(url, TOKEN).request("PUT", "/admin/endpoints/e/weights", {"a": 100}, admin=True)[0] == 401
        EndpointClient(url, "from-connection").put_variant("e", "a", variant_body(artifacts["champion"], 100))


def test_serve_without_a_token_warns_and_refuses_admin_calls(artifacts: dict[str, Path]) -> None:
    with serve("--token-env", "MLPROVIDER_TEST_UNSET_TOKEN", env={}) as (url, _, before):
        status, _, _ = EndpointClient(url, "x").request(
            "PUT", "/admin/endpoints/e/variants/a", variant_body(artifacts["champion"], 100), admin=True
        )
        assert status == 403
    assert any("admin API refuses every call" in line for line in before)


def test_serve_refuses_a_short_retention(capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", "--retention-hours", "1"]) == 2
    assert "at least 6" in capsys.readouterr().err


SECRETS = {
    "AIRFLOW_CONN_WAREHOUSE": "snowflake://user:conn-secret@account/db",
    "AIRFLOW_VAR_API_KEY": "var-secret",
    "AIRFLOW__CORE__FERNET_KEY": "fernet-secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_SESSION_TOKEN": "aws-session-secret",
    "SNOWFLAKE_PASSWORD": "snowflake-secret",
}


@pytest.mark.parametrize("token_source", ["env", "connection"])
def test_model_code_sees_no_secret_nor_the_admin_token(tmp_path: Path, token_source: str) -> None:
    env = {**SECRETS, "MLPROVIDER_ENDPOINT_TOKEN": TOKEN, "MODEL_SETTING": "visible"}
    args = ["--pass-env", "MODEL_SETTING"]
    if token_source == "connection":
        env["AIRFLOW_CONN_ENDPOINT_ADMIN"] = json.dumps({"conn_type": "generic", "password": TOKEN})
        args += ["--conn-id", "endpoint_admin"]
    artifact = make_artifact(tmp_path / "probing", 1.0, PROBING_MODEL_CODE)
    with serve(*args, env=env) as (url, _, _):
        admin = EndpointClient(url, TOKEN)  # the server still knows its token
        admin.put_variant("e", "v", {**variant_body(artifact, 100), "request_schema": PROBING_REQUEST_SCHEMA})
        status, _, body = admin.invoke("e", {"env": True})
    assert status == 200
    leaked = {"AIRFLOW_CONN_ENDPOINT_ADMIN", "MLPROVIDER_ENDPOINT_TOKEN", *SECRETS} & set(body["environ"])
    assert not leaked, f"model code can read {sorted(leaked)}"
    # /proc/self/environ is the environment the process was started with: scrubbing os.environ would not clear it
    assert not [value for value in (*SECRETS.values(), TOKEN) if value in body["proc_environ"]]
    assert {"PATH", "MODEL_SETTING"} <= set(body["environ"])


def test_sigterm_ends_the_server_while_a_model_call_hangs(tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path / "probing", 1.0, PROBING_MODEL_CODE)
    with serve(env={"MLPROVIDER_ENDPOINT_TOKEN": TOKEN}) as (url, proc, _):
        EndpointClient(url, TOKEN).put_variant("e", "v", {**variant_body(artifact, 100), "request_schema": PROBING_REQUEST_SCHEMA})
        def call_the_hanging_model() -> None:
            with contextlib.suppress(OSError):  # the answer never comes: the server goes away
                EndpointClient(url, timeout_s=5).invoke("e", {"sleep": 120})

        hung = threading.Thread(target=call_the_hanging_model)
        hung.start()
        time.sleep(1)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 15  # the 5 s grace for requests in progress, not the model's 120 s
        hung.join()
