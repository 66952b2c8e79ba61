"""Lifecycle notifications: always the task log, and Slack when the spec or defaults name a connection.

The connection's type picks the Slack provider's hook: `slackwebhook` (an incoming webhook, which posts to
its own channel) -> SlackWebhookHook; `slack` (an API token) -> SlackHook.chat_postMessage to
`notify.channel`. A notification never fails the task that sends it: a broken Slack connection is logged
and ignored.
"""

from __future__ import annotations

import logging

from airflow_mlprovider.spec.model import ModelSpec

log = logging.getLogger(__name__)

#: a slow Slack must not hold a rollout step for long
SLACK_TIMEOUT_S = 10


def notify(spec: ModelSpec, event: str, message: str, *, alert: bool = False) -> None:
    """Report `event` (e.g. 'rollout.advance', 'rollback') for the spec's model.

    `alert` marks what a human must see (a rollback): it is logged as a warning and mentions
    `notify.mention_on_rollback` on Slack.
    """
    text = f"[{spec.model}] {event}: {message}"
    log.log(logging.WARNING if alert else logging.INFO, text)
    conn_id = spec.notify.slack_conn_id
    if not conn_id:
        return
    if alert and spec.notify.mention_on_rollback:
        text = f"{spec.notify.mention_on_rollback} {text}"
    try:
        send_to_slack(conn_id, spec.notify.channel, text)
    except Exception:  # noqa: BLE001 - by design a notification failure never fails the rollout
        log.exception("notification to Slack connection %r failed; carrying on", conn_id)


def send_to_slack(conn_id: str, channel: str | None, text: str) -> None:
    """Post `text` through the Airflow connection `conn_id` (raises on any failure)."""
    from airflow.sdk import BaseHook

    conn_type = BaseHook.get_connection(conn_id).conn_type
    if conn_type == "slackwebhook":
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=SLACK_TIMEOUT_S).send_text(text)
    elif conn_type == "slack":
        if not channel:
            raise ValueError(f"Slack connection {conn_id!r} holds an API token: set notify.channel to post to")
        from airflow.providers.slack.hooks.slack import SlackHook

        SlackHook(slack_conn_id=conn_id, timeout=SLACK_TIMEOUT_S).client.chat_postMessage(channel=channel, text=text)
    else:
        raise ValueError(
            f"connection {conn_id!r} has type {conn_type!r}; allowed: 'slackwebhook' (incoming webhook) "
            "or 'slack' (API token)"
        )
