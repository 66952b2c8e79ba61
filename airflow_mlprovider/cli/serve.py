"""`mlprovider serve`: run the local endpoint server (127.0.0.1 unless --host says otherwise) until Ctrl-C.

It reads the admin token (environment variable or Airflow connection), then re-executes itself with an
environment stripped of secrets and the token in a pipe: model code loaded by the server never finds a
connection, an Airflow setting, a cloud key or the token in its environment.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys

from airflow_mlprovider.serving.environment import model_environment

TOKEN_ENV = "MLPROVIDER_ENDPOINT_TOKEN"
MAX_TOKEN_BYTES = 4096  # the token goes through a pipe written before exec: it must fit its buffer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from airflow_mlprovider.serving.app import ServingLimits
    from airflow_mlprovider.serving.server import DEFAULT_HOST, DEFAULT_PORT

    defaults = ServingLimits()
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}; only loopback unless set)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--state-file", help="JSON file where variants, weights and fences persist across restarts")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token-env", default=TOKEN_ENV, metavar="VAR", help=f"env variable holding the admin token (default {TOKEN_ENV})")
    token.add_argument("--conn-id", help="Airflow connection whose password is the admin token")
    token.add_argument("--token-fd", type=int, help=argparse.SUPPRESS)  # the re-executed server reads its token here
    parser.add_argument("--retention-hours", type=float, default=7.0, help="how long per-second window buckets are kept (>= 6)")
    parser.add_argument("--seed", type=int, help="seed of the routing / fault-injection draws (reproducible demos)")
    parser.add_argument("--model-threads", type=int, default=defaults.model_threads,
                        help=f"threads running model code (default {defaults.model_threads})")
    parser.add_argument("--max-pending", type=int, default=defaults.max_pending,
                        help=f"model calls admitted at once, running or queued; more get 503 (default {defaults.max_pending})")
    parser.add_argument("--request-timeout", type=float, default=defaults.request_timeout_s,
                        help=f"seconds before an invocation is answered 504 (default {defaults.request_timeout_s:g})")
    parser.add_argument("--body-timeout", type=float, default=defaults.body_timeout_s,
                        help=f"seconds for a request body to arrive before 408 (default {defaults.body_timeout_s:g})")
    parser.add_argument("--shadow-threads", type=int, default=defaults.shadow_threads,
                        help=f"threads answering mirrored requests on shadow variants (default {defaults.shadow_threads})")
    parser.add_argument("--max-shadow-pending", type=int, default=defaults.max_shadow_pending,
                        help="mirrored calls queued or running at once; more are dropped and counted "
                             f"(default {defaults.max_shadow_pending})")
    parser.add_argument("--pass-env", action="append", default=[], metavar="VAR",
                        help="environment variable model code may read (repeatable); secrets are never passed by default")


def admin_token(args: argparse.Namespace) -> str | None:
    if args.conn_id:
        from airflow.sdk import BaseHook  # only when asked: importing Airflow takes seconds

        return BaseHook.get_connection(args.conn_id).password or None
    return os.environ.get(args.token_env) or None


def run(args: argparse.Namespace) -> int:
    if args.retention_hours < 6:
        print("--retention-hours must be at least 6 (a rollout reads windows up to its 3 h timeout and more)", file=sys.stderr)
        return 2
    if args.token_fd is None:
        return exec_without_secrets(args)
    return serve(args, read_token(args.token_fd))


def exec_without_secrets(args: argparse.Namespace) -> int:
    """Read the token, then replace this process by the server with a clean environment (returns only on error)."""
    token = admin_token(args)
    if token is None:
        source = f"connection {args.conn_id!r}" if args.conn_id else f"${args.token_env}"
        print(f"warning: no admin token ({source} is empty): the admin API refuses every call", file=sys.stderr)
    payload = (token or "").encode()
    if len(payload) > MAX_TOKEN_BYTES:
        print(f"the admin token is longer than {MAX_TOKEN_BYTES} bytes", file=sys.stderr)
        return 2
    read_fd, write_fd = os.pipe()
    os.write(write_fd, payload)
    os.close(write_fd)
    os.set_inheritable(read_fd, True)
    argv = [sys.executable, "-m", "airflow_mlprovider.cli", "serve", "--token-fd", str(read_fd), *server_arguments(args)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, model_environment(os.environ, args.pass_env, secret=[args.token_env, TOKEN_ENV]))
    return 1  # not reached: execve raises on failure


def server_arguments(args: argparse.Namespace) -> list[str]:
    """The options of this command line that the re-executed server needs."""
    values = {
        "--host": args.host, "--port": args.port, "--state-file": args.state_file, "--retention-hours": args.retention_hours,
        "--seed": args.seed, "--model-threads": args.model_threads, "--max-pending": args.max_pending,
        "--request-timeout": args.request_timeout, "--body-timeout": args.body_timeout,
        "--shadow-threads": args.shadow_threads, "--max-shadow-pending": args.max_shadow_pending,
    }
    return [part for option, value in values.items() if value is not None for part in (option, str(value))]


def read_token(fd: int) -> str | None:
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read().decode() or None


def serve(args: argparse.Namespace, token: str | None) -> int:
    """Serve until SIGINT/SIGTERM, then end the process (exit status 0)."""
    from airflow_mlprovider.serving.app import ServingLimits
    from airflow_mlprovider.serving.server import EndpointServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        limits = ServingLimits(args.model_threads, args.max_pending, args.request_timeout, args.body_timeout,
                               shadow_threads=args.shadow_threads, max_shadow_pending=args.max_shadow_pending)
    except ValueError as exc:
        print(f"invalid limits: {exc}", file=sys.stderr)
        return 2
    server = EndpointServer(
        args.host, args.port, admin_token=token, state_file=args.state_file,
        seed=args.seed, retention_s=args.retention_hours * 3600, limits=limits,
    )
    if not _is_loopback(args.host):
        print(f"warning: binding {args.host}: the server is reachable from other machines", file=sys.stderr)
    print(f"mlprovider endpoint server on {server.url} (state file: {args.state_file or 'none'})", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.serve_forever()  # uvicorn stops on SIGINT/SIGTERM, then re-raises the signal it caught
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # A model call that never returns cannot be interrupted; its thread must not keep the process alive.
        os._exit(0)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the same clean stop as Ctrl-C: close the socket, drop the private artifact copies


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
