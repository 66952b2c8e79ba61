"""A tiny model artifact built by the test itself (no training), its schemas and a variant body."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path
from typing import Any

from airflow_mlprovider.artifacts import CODE_DIR, MODEL_DIR, write_manifest

TOKEN = "test-admin-token"

# predict() multiplies x by the artifact's factor; x == 13 raises (a model bug), x == 99 breaks the response schema
MODEL_CODE = textwrap.dedent(
    """
    import json
    import os


    def preprocess(raw, ctx):
        return raw


    def train(train, validation, ctx):
        raise NotImplementedError("this test model is built by hand, not trained")


    def load(artifact_dir):
        factor = json.load(open(os.path.join(artifact_dir, "params.json")))["factor"]

        def predict(request):
            if request["x"] == 13:
                raise ValueError("unlucky input")
            if request["x"] == 99:
                return {"prediction": "not a number"}
            return {"prediction": request["x"] * factor, "label": "ok"}

        return predict
    """
)

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["x"],
    "properties": {"x": {"type": "number"}},
    "additionalProperties": False,
}
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prediction"],
    "properties": {"prediction": {"type": "number"}, "label": {"type": "string"}},
}


# A model for hostile and slow requests: sleeps when asked, parses "day" as a date (a bad one raises, like a
# real model), and reports the environment variable names its code sees.
PROBING_MODEL_CODE = textwrap.dedent(
    """
    import datetime
    import os
    import time


    def load(artifact_dir):
        def predict(request):
            time.sleep(request.get("sleep", 0))
            if "day" in request:
                datetime.date.fromisoformat(request["day"])
            environ = open("/proc/self/environ", "rb").read().decode(errors="replace") if request.get("env") else ""
            return {"prediction": 1, "environ": sorted(os.environ), "proc_environ": environ}

        return predict
    """
)
PROBING_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sleep": {"type": "number", "minimum": 0, "maximum": 120},
        "day": {"type": "string", "format": "date"},
        "env": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def make_artifact(folder: Path, factor: float, code: str = MODEL_CODE) -> Path:
    """An artifact folder in the trained layout (model/, code/<module>.py, MANIFEST.json)."""
    (folder / MODEL_DIR).mkdir(parents=True)
    (folder / CODE_DIR).mkdir()
    (folder / MODEL_DIR / "params.json").write_text(json.dumps({"factor": factor}))
    (folder / CODE_DIR / "tiny_model.py").write_text(code)
    write_manifest(folder)
    return folder


def variant_body(artifact: Path, weight: float = 0, **extra: Any) -> dict[str, Any]:
    return {
        "artifact_uri": artifact.as_uri(),
        "request_schema": REQUEST_SCHEMA,
        "response_schema": RESPONSE_SCHEMA,
        "weight": weight,
        **extra,
    }


def raw_http(url: str, data: bytes, timeout_s: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send `data` as is on a new socket and read one response: (status, lower-cased headers, body).

    A connection closed before a complete response raises ConnectionError; a silent server, socket.timeout.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed without a response (got {received!r})")
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
        length = 0 if data.startswith(b"HEAD ") else int(headers.get("content-length", 0))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed after {len(body)} of {length} body bytes")
            body += chunk
        return int(status_line.split()[1]), headers, body


def http_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one HTTP/1.1 request with a correct Content-Length (unless `headers` sets one)."""
    all_headers = {"Host": "127.0.0.1", "Content-Length": str(len(body)), **(headers or {})}
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in all_headers.items()), "", ""]
    return "\r\n".join(lines).encode() + body
