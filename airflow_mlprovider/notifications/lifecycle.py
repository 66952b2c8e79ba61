"""Lifecycle notifications: always the task log, and Slack when the spec or defaults name a connection.

A notification never fails the task that sends it: a broken Slack connection is logged and ignored.
"""

from __future__ import annotations

import logging

from airflow_mlprovider.spec.model import ModelSpec

log = logging.getLogger(__name__)


def notify(spec: ModelSpec, event: str, message: str, *, alert: bool = False) -> None:
    """Report `event` (e.g. 'rollout.advance', 'rollback') for the spec's model.

    `alert` marks what a human must see (a rollback): it is logged as a warning and mentions
    `notify.mention_on_rollback` on Slack.
    """
    text = f"[{spec.model}] {event}: {message}"
    log.log(logging.WARNING if alert else logging.INFO, text)
    if not spec.notify.slack_conn_id:
        return
    if alert and spec.notify.mention_on_rollback:
        text = f"{spec.notify.mention_on_rollback} {text}"
    try:
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        SlackWebhookHook(slack_webhook_conn_id=spec.notify.slack_conn_id).send_text(text)
    except Exception:  # noqa: BLE001 - by design a notification failure never fails the rollout
        log.exception("notification to Slack connection %r failed; carrying on", spec.notify.slack_conn_id)
