"""LifecycleNotifier: Slack through the Slack provider's hooks, never failing the task that sends it; usable as
a callback of any DAG (a real dag.test() run calls it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from airflow_mlprovider.notifications.lifecycle import LifecycleNotifier
from tests.dag_runs import record_dag


class SlackStandIn:
    """A tiny HTTP server on 127.0.0.1 answering like Slack's webhook and Web API endpoints."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                else:
                    body = json.loads(raw)
                received.append((self.path, body))
                api = self.path.startswith("/api/")
                payload = json.dumps({"ok": True}).encode() if api else b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if api else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlackStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as server:
        yield server


def notify(notifier: LifecycleNotifier, event: str, message: str, *, alert: bool = False) -> None:
    notifier.event("churn", event, message, alert=alert)


def test_webhook_connection_posts_the_text(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "slackwebhook", "host": slack.url, "password": "T000/B000/secret"}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_HOOK_TEST", json.dumps(conn))
    notify(LifecycleNotifier(slack_conn_id="slack_hook_test"), "rollout.advance", "v-1 -> 25 %")
    assert slack.posts == [("/T000/B000/secret", {"text": "[churn] rollout.advance: v-1 -> 25 %"})]


def test_alert_mentions_the_on_call(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "slackwebhook", "host": slack.url, "password": "T000/B000/secret"}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_HOOK_TEST", json.dumps(conn))
    notifier = LifecycleNotifier(slack_conn_id="slack_hook_test", mention_on_alert="<!here>")
    notify(notifier, "rollback", "v-2 rolled back", alert=True)
    notify(notifier, "finalize", "v-3 is the champion")
    assert [body["text"] for _, body in slack.posts] == [
        "<!here> [churn] rollback: v-2 rolled back",
        "[churn] finalize: v-3 is the champion",
    ]


def test_api_token_connection_posts_to_the_channel(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "slack", "password": "xoxb-test-token", "extra": {"base_url": f"{slack.url}/api/"}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_TEST", json.dumps(conn))
    notify(LifecycleNotifier(slack_conn_id="slack_api_test", channel="#ml-rollouts"), "deploy", "v-1 at 0 %")
    [(path, body)] = slack.posts
    assert path == "/api/chat.postMessage"
    assert body["channel"] == "#ml-rollouts"
    assert body["text"] == "[churn] deploy: v-1 at 0 %"


@pytest.mark.parametrize(
    "conn",
    [
        {"conn_type": "slackwebhook", "host": "http://127.0.0.1:9", "password": "T/B/X"},  # nothing listens
        {"conn_type": "slackwebhook", "host": "http://127.0.0.1:9"},  # no token
        {"conn_type": "slack", "password": "xoxb-x"},  # API token without a channel
        {"conn_type": "http", "host": "http://127.0.0.1:9"},  # not a Slack connection
    ],
)
def test_a_broken_connection_is_logged_not_raised(
    conn: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_BROKEN", json.dumps(conn))
    notify(LifecycleNotifier(slack_conn_id="slack_broken"), "rollback", "v-9 rolled back", alert=True)
    assert "[churn] rollback: v-9 rolled back" in caplog.text
    assert "notification to Slack connection 'slack_broken' failed" in caplog.text


def test_a_missing_connection_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    notify(LifecycleNotifier(slack_conn_id="no_such_connection"), "finalize", "done")
    assert "notification to Slack connection 'no_such_connection' failed" in caplog.text


def test_without_a_connection_only_the_log_is_written(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    notify(LifecycleNotifier(), "deploy", "v-1 at 0 %")
    assert "[churn] deploy: v-1 at 0 %" in caplog.text


def test_as_a_failure_callback_of_any_dag(airflow_db: str, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timezone

    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    conn = {"conn_type": "slackwebhook", "host": slack.url, "password": "T000/B000/secret"}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_CALLBACK", json.dumps(conn))
    notifier = LifecycleNotifier("{{ ti.task_id }} of {{ dag.dag_id }} failed", slack_conn_id="slack_callback",
                                 mention_on_alert="@oncall")

    def fail() -> None:
        raise RuntimeError("boom")

    with DAG("notifier_callback", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
        PythonOperator(task_id="flaky", python_callable=fail, retries=0, on_failure_callback=notifier)
    run = record_dag(dag).test()
    assert str(run.state) == "failed"
    assert [body["text"] for _, body in slack.posts] == ["@oncall flaky of notifier_callback failed"]
