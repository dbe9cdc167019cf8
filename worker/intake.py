"""Dedupe and enqueue a verified webhook in one Redis round trip.

One Lua script marks the webhook-id seen and pushes the Dramatiq message in the same atomic
step, so a crash can neither lose an acknowledged event nor mark one seen without queueing it.
The message is written exactly as Dramatiq's Redis broker writes one (`<ns>:<queue>.msgs` hash
and `<ns>:<queue>` list), so an ordinary `dramatiq worker.actors` consumes it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import dramatiq
from redis.asyncio import Redis
from redis.exceptions import NoScriptError
from redis.client import Pipeline

NAMESPACE = "dramatiq"
QUEUE = "webhooks"
INTERNAL_QUEUE = "upsell"  # follow-ups, expiries, charges: messages the worker sends itself
SEEN_TTL_SECONDS = 8 * 24 * 3600  # Dodo retries for ~27.5 h; keep ids well past that

ACTORS = {
    "payment.succeeded": "payment_succeeded",
    "payment.failed": "payment_failed",
    "subscription.active": "subscription_active",
    "subscription.plan_changed": "subscription_plan_changed",
}

_SCRIPT = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('hset', KEYS[2], ARGV[1], ARGV[3])
  redis.call('rpush', KEYS[3], ARGV[1])
  return 1
end
return 0
"""


def seen_key(webhook_id: str) -> str:
    return f"upsell:seen:{webhook_id}"


def message_for(event_type: str, webhook_id: str, body: str) -> dramatiq.Message:
    """The Dramatiq message for a handled type; the raw body travels so dead letters keep it."""
    message_id = str(uuid.uuid4())
    return dramatiq.Message(
        queue_name=QUEUE,
        actor_name=ACTORS[event_type],
        args=(webhook_id, body),
        kwargs={},
        options={"redis_message_id": message_id},
        message_id=message_id,
    )


def internal_message(actor_name: str, *args: str, message_id: str | None = None) -> dramatiq.Message:
    """A message for one of our own actors, to be pushed inside a state-changing transaction."""
    message_id = message_id or str(uuid.uuid4())
    return dramatiq.Message(queue_name=INTERNAL_QUEUE, actor_name=actor_name, args=args, kwargs={},
                            options={"redis_message_id": message_id}, message_id=message_id)


def push(pipe: Pipeline, message: dramatiq.Message) -> None:
    """Queue a message on a MULTI: it is enqueued if and only if the transaction commits."""
    name = f"{NAMESPACE}:{message.queue_name}"
    pipe.hset(f"{name}.msgs", message.options["redis_message_id"], message.encode())
    pipe.rpush(name, message.options["redis_message_id"])


class Intake:
    """Group commit: requests that arrive while a batch is in flight go out together in one
    pipeline (one write, one read), each still its own atomic script and answered only after it."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._script = client.register_script(_SCRIPT)
        self._pending: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._flushing = False

    async def enqueue_once(self, event_type: str, webhook_id: str, body: str) -> bool:
        """True if queued now, False if this webhook-id was queued before; raises RedisError."""
        message = message_for(event_type, webhook_id, body)
        keys = [seen_key(webhook_id), f"{NAMESPACE}:{QUEUE}.msgs", f"{NAMESPACE}:{QUEUE}"]
        args = [message.options["redis_message_id"], SEEN_TTL_SECONDS, message.encode()]
        done = asyncio.get_running_loop().create_future()
        self._pending.append((keys, args, done))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return bool(await done)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._run(batch)
                except Exception as exc:  # noqa: BLE001 - every waiter gets the failure, answers 503
                    results = [exc] * len(batch)
                for (_, _, done), result in zip(batch, results):
                    if isinstance(result, Exception):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
        finally:
            self._flushing = False

    async def _run(self, batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]]) -> list[Any]:
        """EVALSHA each; a Redis that lost its script cache (restart) gets it loaded once, then again."""
        for attempt in (1, 2):
            pipe = self._client.pipeline(transaction=False)
            for keys, args, _ in batch:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            results = await pipe.execute(raise_on_error=False)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in results):
                await self._client.script_load(_SCRIPT)
                continue
            return results
        raise AssertionError("unreachable")
