"""Dedupe and enqueue a verified webhook in one Redis round trip (scripts/enqueue_once.lua).

The seen mark and the Dramatiq message are written in the same atomic step, so a crash can neither
lose an acknowledged event nor mark one seen without queueing it. The same step appends the
delivery (id, type, body) to the inbound archive (`upsell:inbound`, trimmed by age), which
`rules backtest` replays.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import redis.exceptions
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from worker import archive, keys, redis_scripts, replication
from worker.queue import messages

Pending = tuple[bytes, "asyncio.Future[Any]"]  # one EVALSHA, already in RESP, and who waits for it
REPLY_TIMEOUT = 2.0  # seconds for a whole batch; the receiver answers 503 and Dodo retries


class Intake:
    """Group commit: requests that arrive while a batch is in flight go out together in one
    pipeline (one write, one read), each still its own atomic script and answered only after it."""

    def __init__(self, client: Redis, archive_retention_seconds: int = 0, ack: replication.Ack | None = None) -> None:
        self._client = client
        self._ack = ack or replication.Ack()  # replicas that must have a batch before it is answered
        self._archive_ms = archive_retention_seconds * 1000  # upsell:inbound kept this long; 0: not kept
        self._source = redis_scripts.source("enqueue_once")
        self._sha = client.register_script(self._source).sha
        # Everything but the seen key, the message id and the message is the same for every call.
        queue_keys = (keys.queue_messages(keys.WEBHOOK_QUEUE), keys.queue(keys.WEBHOOK_QUEUE), keys.INBOUND)
        self._head = _bulk("EVALSHA") + _bulk(self._sha) + _bulk(4)
        self._queue_keys = b"".join(map(_bulk, queue_keys))
        self._ttl, self._archive = _bulk(keys.SEEN_TTL), _bulk(self._archive_ms)
        self._pending: list[Pending] = []
        self._flushing = False

    async def enqueue_once(self, event_type: str, webhook_id: str, body: str) -> bool:
        """True if queued now, False if this webhook-id was queued before; raises RedisError."""
        message_id, encoded = messages.encoded_webhook(event_type, webhook_id, body)
        archived = ("webhook_id", webhook_id, "type", event_type, "bodyz", archive.pack(body))
        return await self.enqueue_message(keys.seen(webhook_id), message_id, encoded, archived)

    async def enqueue_message(
        self, seen_key: str, message_id: str, encoded: bytes, archived: tuple[str | bytes, ...] = ()
    ) -> bool:
        """Queue an encoded message on the webhooks queue unless `seen_key` is set; same guarantees.
        `archived` (field, value, ...) is the inbound archive's entry for it, if it has one."""
        fields = [_bulk(part) for part in archived] if self._archive_ms else []
        parts = (self._head, _bulk(seen_key), self._queue_keys, _bulk(message_id), self._ttl, _bulk(encoded))
        wire = b"".join((b"*%d\r\n" % (11 + len(fields)), *parts, self._archive, *fields))
        done = asyncio.get_running_loop().create_future()
        self._pending.append((wire, done))
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
                except Exception as exc:
                    results = [exc] * len(batch)
                for (_, done), result in zip(batch, results, strict=True):
                    if isinstance(result, Exception):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
        finally:
            self._flushing = False

    async def _run(self, batch: list[Pending]) -> list[Any]:
        """EVALSHA each; a Redis that lost its script cache (restart) gets it loaded once, then again."""
        for attempt in (1, 2):
            results = await self._round_trip(batch)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in results):
                await self._client.script_load(self._source)
                continue
            return results
        raise AssertionError("unreachable")

    async def _round_trip(self, batch: list[Pending]) -> list[Any]:
        """One write of the whole batch, then its replies in order, under one timeout: what
        redis-py's pipeline does, without its per-command packing and per-reply timers, which
        were a sixth of the receiver's CPU under load (bench.ingest)."""
        pool = self._client.connection_pool
        connection = await pool.get_connection()
        try:
            async with asyncio.timeout(REPLY_TIMEOUT + self._ack.timeout_ms / 1000):
                wires = b"".join(wire for wire, _ in batch)
                await connection.send_packed_command(wires + self._ack.wire, check_health=False)
                results: list[Any] = []
                for _ in batch:
                    try:
                        results.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as exc:  # this script's error; the replies after it still follow
                        results.append(exc)
                if self._ack.replicas:
                    await connection.read_response(timeout=math.inf)  # the INCR
                    try:
                        self._ack.check(int(await connection.read_response(timeout=math.inf)))
                    except replication.NotReplicated as exc:
                        return [exc] * len(batch)
            return results
        except BaseException as exc:  # timeout, reset, cancelled: the replies left unread make it unusable
            await connection.disconnect()
            if isinstance(exc, TimeoutError):
                raise redis.exceptions.TimeoutError("Redis did not answer the batch in time") from None
            raise
        finally:
            await pool.release(connection)


def _bulk(value: str | bytes | int) -> bytes:
    """One RESP bulk string."""
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)
