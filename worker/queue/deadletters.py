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
from worker.queue import corrections, messages

KEY = keys.DEAD_LETTERS
log = structlog.get_logger("deadletters")


def record(client: redis.Redis, message: dramatiq.Message[Any] | dramatiq.MessageProxy, error: str) -> str:
    """Keep the failed message with every argument, so any actor's message can be replayed. A
    webhook's record id is its webhook-id (a re-failure overwrites it); others use the message id."""
    # What arrived from outside (a webhook, an app event): its id names the record and its body,
    # the last argument, is kept apart so `list` never prints it.
    inbound = message.queue_name == keys.WEBHOOK_QUEUE and len(message.args) >= 2
    record_id = str(message.args[0]) if inbound else message.message_id
    entry = {
        "id": record_id,
        "actor": message.actor_name,
        "args": list(message.args),
        "body": message.args[-1] if inbound else None,
        "error": error,
        "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "retries": message.options.get("retries", 0),
    }
    client.hset(KEY, record_id, json.dumps(entry))
    log.error("dead_lettered", record_id=record_id, actor=message.actor_name, error=error)
    return record_id


def all_records(client: redis.Redis) -> list[dict[str, Any]]:
    records = [json.loads(raw) for raw in client.hvals(KEY)]
    return sorted(records, key=lambda r: r["failed_at"])


def replay(client: redis.Redis, record_id: str, body: str | None = None, by: str = "cli") -> dict[str, Any]:
    """Queue the message for its actor again (a webhook or app event with a corrected body if given)
    and drop the record, in one step: never both a replay and the record, never neither. A corrected
    body can grant anything to anyone, so it is traced: who (`by`), both bodies' hashes and the
    fields that differ are logged, and the corrected body joins the inbound archive, so backtest
    and explain see what was applied."""
    raw = client.hget(KEY, record_id)
    if raw is None:
        raise KeyError(record_id)
    entry = json.loads(raw)
    args = list(entry.get("args") or [entry["id"], entry["body"]])
    if body is not None:
        if entry.get("body") is None:
            raise ValueError(f"{record_id} is not a webhook or app event: a corrected body applies only to those")
        args[-1] = body
    queue = keys.WEBHOOK_QUEUE if entry.get("body") is not None else keys.INTERNAL_QUEUE
    with client.pipeline() as pipe:
        messages.push(pipe, messages.message(queue, entry["actor"], tuple(args)))
        pipe.hdel(KEY, record_id)
        if body is not None:
            archived: Any = corrections.archived(args, body, entry["body"])
            pipe.xadd(keys.INBOUND, archived)
        pipe.execute()
    if body is None:
        log.info("dead_letter_replayed", record_id=record_id, actor=entry["actor"], by=by, corrected=False)
    else:
        log.warning(
            "dead_letter_replayed",
            record_id=record_id,
            actor=entry["actor"],
            by=by,
            corrected=True,
            **corrections.trace(entry["body"], body),
        )
    return entry


def delete(client: redis.Redis, record_id: str) -> bool:
    return bool(client.hdel(KEY, record_id))


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
