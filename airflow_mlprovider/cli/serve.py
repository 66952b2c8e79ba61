"""`mlprovider serve`: run the local endpoint server (127.0.0.1 unless --host says otherwise) until Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys

from airflow_mlprovider.serving.server import DEFAULT_HOST, DEFAULT_PORT, EndpointServer

TOKEN_ENV = "MLPROVIDER_ENDPOINT_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}; only loopback unless set)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--state-file", help="JSON file where variants and weights persist across restarts")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token-env", default=TOKEN_ENV, metavar="VAR", help=f"env variable holding the admin token (default {TOKEN_ENV})")
    token.add_argument("--conn-id", help="Airflow connection whose password is the admin token")
    parser.add_argument("--retention-hours", type=float, default=7.0, help="how long per-second window buckets are kept (>= 6)")
    parser.add_argument("--seed", type=int, help="seed of the routing / fault-injection draws (reproducible demos)")


def admin_token(args: argparse.Namespace) -> str | None:
    if args.conn_id:
        from airflow.sdk import BaseHook  # only when asked: importing Airflow takes seconds

        return BaseHook.get_connection(args.conn_id).password or None
    return os.environ.get(args.token_env) or None


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.retention_hours < 6:
        print("--retention-hours must be at least 6 (a rollout reads windows up to its 3 h timeout and more)", file=sys.stderr)
        return 2
    token = admin_token(args)
    server = EndpointServer(
        args.host, args.port, admin_token=token, state_file=args.state_file,
        seed=args.seed, retention_s=args.retention_hours * 3600,
    )
    if not _is_loopback(args.host):
        print(f"warning: binding {args.host}: the server is reachable from other machines", file=sys.stderr)
    if token is None:
        source = f"connection {args.conn_id!r}" if args.conn_id else f"${args.token_env}"
        print(f"warning: no admin token ({source} is empty): the admin API refuses every call", file=sys.stderr)
    print(f"mlprovider endpoint server on {server.url} (state file: {args.state_file or 'none'})", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the same clean stop as Ctrl-C: close the socket, drop the private artifact copies


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
