"""EndpointServerHook: the local endpoint server (`mlprovider serve`) through its own Airflow connection type.

Connection `mlprovider_endpoint` (type "ML endpoint server"; its form is declared in get_provider_info): host
and port of the server (default 127.0.0.1:8765, schema "http" or "https"), and the admin token as the password. The admin token is only ever
sent to that connection's host and port: no URL from a spec or an argument is used for admin calls.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from airflow_mlprovider.serving.client import EndpointClient

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class EndpointServerHook(BaseHook):
    """Read and admin clients of the endpoint server named by an Airflow connection.

    :param endpoint_conn_id: the connection (type `mlprovider_endpoint`): host, port, schema, token as password.
    :param timeout_s: seconds an HTTP call may take.
    """

    conn_name_attr = "endpoint_conn_id"
    default_conn_name = "mlprovider_endpoint"
    conn_type = "mlprovider_endpoint"
    hook_name = "ML endpoint server"

    def __init__(self, endpoint_conn_id: str = default_conn_name, timeout_s: float = 30.0) -> None:
        super().__init__()
        self.endpoint_conn_id = endpoint_conn_id
        self.timeout_s = timeout_s

    @cached_property
    def connection(self) -> Any:
        try:
            return self.get_connection(self.endpoint_conn_id)
        except Exception as exc:  # the SDK raises AirflowNotFoundException; say what to create instead
            raise RuntimeError(
                f"Airflow connection {self.endpoint_conn_id!r} (the endpoint server) does not exist ({exc}); create "
                f"it, e.g. AIRFLOW_CONN_{self.endpoint_conn_id.upper()}='{{\"conn_type\": \"{self.conn_type}\", "
                f"\"host\": \"{DEFAULT_HOST}\", \"port\": {DEFAULT_PORT}, \"password\": \"<admin token>\"}}'"
            ) from exc

    @property
    def base_url(self) -> str:
        """scheme://host:port of the server, from the connection alone."""
        conn = self.connection
        host = conn.host or DEFAULT_HOST
        scheme = conn.schema or "http"
        if "://" in host:  # a host entered as a URL: keep its scheme, host and port, nothing else
            parts = urlsplit(host)
            scheme, host = parts.scheme, parts.hostname or DEFAULT_HOST
            port = conn.port or parts.port or DEFAULT_PORT
        else:
            port = conn.port or DEFAULT_PORT
        if scheme not in ("http", "https"):
            raise ValueError(f"connection {self.endpoint_conn_id!r}: scheme must be http or https, got {scheme!r}")
        return f"{scheme}://{host}:{port}"

    def get_conn(self) -> EndpointClient:
        """The read client (no token): describe, invoke, metrics."""
        return EndpointClient(self.base_url, timeout_s=self.timeout_s)

    def admin_client(self) -> EndpointClient:
        """The admin client: the connection's password as token, sent to the connection's host only."""
        token = self.connection.password
        if not token:
            raise RuntimeError(
                f"Airflow connection {self.endpoint_conn_id!r} has no password: it must hold the admin token"
            )
        return EndpointClient(self.base_url, token, timeout_s=self.timeout_s)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's "Test" button: is the server up at the connection's address?"""
        try:
            status, _, body = self.get_conn().request("GET", "/healthz")
        except Exception as exc:  # noqa: BLE001 - the UI shows the message
            return False, str(exc)
        if status != 200:
            return False, f"{self.base_url}/healthz answered {status}: {body}"
        return True, f"endpoint server reachable at {self.base_url}"
