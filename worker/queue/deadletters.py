"""Our own record of events that failed for good: raw body and error, kept until replayed.

Dramatiq's `.XQ` keeps no traceback and purges after 7 days; operators need the raw event and
the reason to fix and replay it, for as long as that takes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import dramatiq
import redis
import structlog

from worker import keys

KEY = keys.DEAD_LETTERS
log = structlog.get_logger("deadletters")


def record(client: redis.Redis, message: dramatiq.Message[Any] | dramatiq.MessageProxy, error: str) -> str:
    """Keep the failed message; the webhook-id is the record id, so a re-failure overwrites it."""
    webhook_id, body = message.args[0], message.args[1]
    entry = {
        "id": webhook_id,
        "actor": message.actor_name,
        "body": body,
        "error": error,
        "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "retries": message.options.get("retries", 0),
    }
    client.hset(KEY, webhook_id, json.dumps(entry))
    log.error("dead_lettered", webhook_id=webhook_id, actor=message.actor_name, error=error)
    return webhook_id


def all_records(client: redis.Redis) -> list[dict[str, Any]]:
    records = [json.loads(raw) for raw in client.hvals(KEY)]
    return sorted(records, key=lambda r: r["failed_at"])


def replay(client: redis.Redis, broker: dramatiq.Broker, record_id: str, body: str | None = None) -> dict[str, Any]:
    """Send the event to its actor again (with a corrected body if given) and drop the record."""
    raw = client.hget(KEY, record_id)
    if raw is None:
        raise KeyError(record_id)
    entry = json.loads(raw)
    actor = broker.get_actor(entry["actor"])
    actor.send(entry["id"], body if body is not None else entry["body"])
    client.hdel(KEY, record_id)
    log.info("dead_letter_replayed", webhook_id=record_id, actor=entry["actor"], corrected=body is not None)
    return entry


class DeadLetters(dramatiq.Middleware):
    """Records a message once Dramatiq gives up on it (retries exhausted, permanent error, too old)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None and message.failed:
            record(self.client, message, f"{type(exception).__name__}: {exception}")

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        record(self.client, message, "skipped: older than the broker's max_age")
