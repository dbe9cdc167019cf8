"""Outbound deliveries in Redis. The stream is copied, once and in order, into one list per
endpoint and customer (`dispatch`); each list's head is delivered by a single chain of `deliver`
messages (`finish` drops the head and queues the next step), so per endpoint and customer event
N+1 goes out only after N is delivered or dead, and lists never wait on each other."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import redis

from worker import catalog, keys, redis_scripts
from worker.delivery.endpoints import Endpoint
from worker.queue import messages

ACTOR = "deliver"


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def body(fields: dict[str, str]) -> dict[str, Any]:
    """What an endpoint receives: the stream entry with `data` as an object."""
    return {**fields, "data": json.loads(fields["data"])}


def _step(endpoint_id: str, customer_id: str) -> tuple[str, bytes]:
    message = messages.internal(ACTOR, endpoint_id, customer_id)
    return messages.redis_id(message), message.encode()


def cursor(client: redis.Redis, stream: str) -> str:
    """The last entry copied; the first dispatcher starts from the stream's end (what came before
    endpoints existed is for `GET /api/access` to bootstrap, not to replay)."""
    current = client.get(keys.DELIVERY_CURSOR)
    if current is None:
        last: Any = client.xrevrange(stream, count=1)
        client.set(keys.DELIVERY_CURSOR, text(last[0][0]) if last else "0-0", nx=True)
        current = client.get(keys.DELIVERY_CURSOR)
    return text(current)


def dispatch(client: redis.Redis, stream: str, endpoints: Iterable[Endpoint], block_ms: int = 1000) -> int:
    """Copy the next entries (waiting up to `block_ms` for some) into the matching lists; returns
    how many entries this call copied (0 when none came or another dispatcher won)."""
    endpoints = list(endpoints)
    start = cursor(client, stream)
    found: Any = client.xread({stream: start}, count=200, block=block_ms)
    if not found:
        return 0
    entries = [(text(i), {text(k): text(v) for k, v in f.items()}) for i, f in found[0][1]]
    script_keys = [keys.DELIVERY_CURSOR, keys.queue(keys.INTERNAL_QUEUE)]
    args: list[Any] = [start, entries[-1][0]]
    for entry_id, fields in entries:
        event = body(fields)
        item = json.dumps({"event": event, "queued_at": int(entry_id.split("-")[0]) / 1000, "entry": entry_id})
        about = event["data"].get("endpoint") if fields["type"] in catalog.OPERATOR_EVENTS else None
        for endpoint in endpoints:
            if endpoint.wants(fields["type"]) and endpoint.id != about:  # never told about itself
                customer = fields["customer_id"]
                script_keys += [keys.delivery_queue(endpoint.id, customer), keys.delivery_pending(endpoint.id)]
                args += [item, customer, *_step(endpoint.id, customer)]
    done = redis_scripts.run(client, "dispatch_events", script_keys, args)
    return len(entries) if done == 1 else 0


def head(client: redis.Redis, endpoint_id: str, customer_id: str) -> str | None:
    raw = client.lindex(keys.delivery_queue(endpoint_id, customer_id), 0)
    return text(raw) if raw is not None else None


def finish(
    client: redis.Redis, endpoint_id: str, customer_id: str, item: str, dead: dict[str, Any] | None = None
) -> bool:
    """Drop the delivered (or dead) head and queue the next step; False if it was gone already."""
    script_keys = [
        keys.delivery_queue(endpoint_id, customer_id),
        keys.delivery_pending(endpoint_id),
        keys.DELIVERY_ATTEMPTS,
        keys.queue(keys.INTERNAL_QUEUE),
        keys.DELIVERY_DEAD,
    ]
    record_id = f"{endpoint_id}:{json.loads(item)['event']['id']}" if dead else ""
    args = [item, f"{endpoint_id}|{customer_id}", customer_id, *_step(endpoint_id, customer_id)]
    args += [record_id, json.dumps(dead) if dead else ""]
    return bool(redis_scripts.run(client, "finish_delivery", script_keys, args))


def failed_attempt(client: redis.Redis, endpoint_id: str, customer_id: str) -> int:
    return int(client.hincrby(keys.DELIVERY_ATTEMPTS, f"{endpoint_id}|{customer_id}", 1))


def dead_records(client: redis.Redis, endpoint_id: str | None = None) -> list[dict[str, Any]]:
    records = [json.loads(text(raw)) for raw in client.hvals(keys.DELIVERY_DEAD)]
    chosen = [r for r in records if endpoint_id in (None, r["endpoint"])]
    return sorted(chosen, key=lambda r: r["dead_at"])


def replay(client: redis.Redis, record_id: str) -> dict[str, Any]:
    """Queue a dead delivery again, behind what its list holds now; drop the record."""
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(keys.DELIVERY_DEAD)
                raw = pipe.hget(keys.DELIVERY_DEAD, record_id)
                if raw is None:
                    raise KeyError(record_id)
                record = json.loads(text(raw))
                endpoint_id, customer_id = record["endpoint"], record["customer_id"]
                queue = keys.delivery_queue(endpoint_id, customer_id)
                pipe.watch(queue)
                idle = pipe.llen(queue) == 0
                pipe.multi()
                pipe.hdel(keys.DELIVERY_DEAD, record_id)
                pipe.rpush(queue, record["item"])
                pipe.sadd(keys.delivery_pending(endpoint_id), customer_id)
                if idle:
                    messages.push(pipe, messages.internal(ACTOR, endpoint_id, customer_id))
                pipe.execute()
                return record
            except redis.WatchError:
                continue


def pending(client: redis.Redis, endpoint_id: str, now: float | None = None) -> tuple[int, float]:
    """Deliveries waiting for this endpoint, and the age in seconds of the oldest (0 if none)."""
    customers = [text(c) for c in client.smembers(keys.delivery_pending(endpoint_id))]
    if not customers:
        return 0, 0.0
    with client.pipeline(transaction=False) as pipe:
        for customer in customers:
            pipe.llen(keys.delivery_queue(endpoint_id, customer))
            pipe.lindex(keys.delivery_queue(endpoint_id, customer), 0)
        replies = pipe.execute()
    count = sum(int(n) for n in replies[0::2])
    oldest = min((json.loads(text(h))["queued_at"] for h in replies[1::2] if h), default=None)
    return count, max(0.0, (now or time.time()) - oldest) if oldest else 0.0
