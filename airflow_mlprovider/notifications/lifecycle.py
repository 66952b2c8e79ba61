"""LifecycleNotifier: the task log always, and Slack when a Slack connection id is given.

Two uses:
- as a callback in any DAG: `on_failure_callback=LifecycleNotifier(slack_conn_id="slack")` (a BaseNotifier;
  `message` is a Jinja template rendered with the task's context);
- by the lifecycle operators (their `notifier` argument), which report each event through `event()`.

The connection's type picks the Slack provider's hook: `slackwebhook` (an incoming webhook, which posts to
its own channel) -> SlackWebhookHook; `slack` (an API token) -> SlackHook.chat_postMessage to `channel`.
A notification never fails the task that sends it: a broken Slack connection is logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

#: a slow Slack must not hold a rollout step for long
SLACK_TIMEOUT_S = 10
DEFAULT_MESSAGE = "[{{ dag.dag_id }}] {{ ti.task_id }}: {{ ti.state }} (run {{ run_id }})"


class LifecycleNotifier(BaseNotifier):
    """Report to the task log, and to Slack through `slack_conn_id` when given.

    :param message: the callback's text (Jinja, rendered with the task context); templated.
    :param slack_conn_id: a `slackwebhook` or `slack` (API token) connection; None: the task log only.
    :param channel: the channel a `slack` API-token connection posts to; templated.
    :param mention_on_alert: prefixed to alerts (rollbacks, failure callbacks), e.g. "<!here>" or "@ml-oncall".
    """

    template_fields: Sequence[str] = ("message", "channel")

    def __init__(
        self, message: str = DEFAULT_MESSAGE, *, slack_conn_id: str | None = None, channel: str | None = None,
        mention_on_alert: str | None = None,
    ) -> None:
        super().__init__()
        self.message = message
        self.slack_conn_id = slack_conn_id
        self.channel = channel
        self.mention_on_alert = mention_on_alert

    def notify(self, context: Any) -> None:
        """The callback: send the rendered message (an alert when the task or run failed)."""
        ti = context.get("ti")
        failed = str(getattr(ti, "state", "")).endswith("failed") or context.get("exception") is not None
        self.send(self.message, alert=failed)

    def event(self, model: str, event: str, message: str, *, alert: bool = False, link: str | None = None) -> None:
        """Report lifecycle `event` (e.g. 'rollout.advance', 'rollback') of `model`; `link`: a report's URI."""
        if link:
            from airflow_mlprovider.evaluation.report import report_link

            message += f"\nreport: {report_link(link)}"
        self.send(f"[{model}] {event}: {message}", alert=alert)

    def send(self, text: str, *, alert: bool = False) -> None:
        """Log `text` (a warning when `alert`), then post it to Slack if a connection is set; never raises."""
        log.log(logging.WARNING if alert else logging.INFO, text)
        if not self.slack_conn_id:
            return
        if alert and self.mention_on_alert:
            text = f"{self.mention_on_alert} {text}"
        try:
            send_to_slack(self.slack_conn_id, self.channel, text)
        except Exception:  # noqa: BLE001 - by design a notification failure never fails the lifecycle
            log.exception("notification to Slack connection %r failed; carrying on", self.slack_conn_id)


def send_to_slack(conn_id: str, channel: str | None, text: str) -> None:
    """Post `text` through the Airflow connection `conn_id` (raises on any failure)."""
    from airflow.sdk import BaseHook

    conn_type = BaseHook.get_connection(conn_id).conn_type
    if conn_type == "slackwebhook":
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=SLACK_TIMEOUT_S).send_text(text)
    elif conn_type == "slack":
        if not channel:
            raise ValueError(f"Slack connection {conn_id!r} holds an API token: give a channel to post to")
        from airflow.providers.slack.hooks.slack import SlackHook

        SlackHook(slack_conn_id=conn_id, timeout=SLACK_TIMEOUT_S).client.chat_postMessage(channel=channel, text=text)
    else:
        raise ValueError(
            f"connection {conn_id!r} has type {conn_type!r}; allowed: 'slackwebhook' (incoming webhook) "
            "or 'slack' (API token)"
        )
