"""The attempt log: every attempt to an endpoint, what it answered and how long it took, for the
people who run the endpoint (`dodo-upsell deliveries attempts`, the console's endpoint page).
A sorted set per endpoint scored by the attempt's time (the worker's clock, so a moved test
clock trims it as it does everything else), kept for the retention and at most MOST entries."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys
from worker.delivery.send import Answer

MOST = 10_000  # entries per endpoint: at most ~4 KiB of answer each, so a noisy endpoint stays under ~50 MB


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(
    client: redis.Redis,
    endpoint_id: str,
    event: dict[str, Any],
    answer: Answer,
    attempt: int,
    next_at: float | None,
    retention_seconds: int,
    entry: str | None = None,
) -> dict[str, Any]:
    """Write one attempt (and trim what is past the retention or the bound); returns the record."""
    now = time.time()
    status = int(answer.outcome[5:]) if answer.outcome.startswith("http_") else None
    line = {
        "at": iso(now),
        "event_id": event.get("id"),
        "type": event.get("type"),
        "customer_id": event.get("customer_id"),
        "attempt": attempt,
        "status": status,
        "error": None if status is not None else answer.outcome,
        "duration_ms": answer.duration_ms,
        "answer": answer.excerpt,
        "next_attempt_at": iso(next_at) if next_at is not None else None,
        "entry": entry,
        "n": uuid.uuid4().hex,  # two attempts in the same millisecond stay two members
    }
    key = keys.delivery_log(endpoint_id)
    with client.pipeline(transaction=False) as pipe:
        pipe.zadd(key, {json.dumps(line, separators=(",", ":")): now})
        pipe.zremrangebyscore(key, "-inf", now - retention_seconds)
        pipe.zremrangebyrank(key, 0, -(MOST + 1))
        pipe.expire(key, retention_seconds + 3600)
        pipe.execute()
    return line


def read(
    client: redis.Redis, endpoint_id: str, event_id: str | None = None, since: float | None = None
) -> list[dict[str, Any]]:
    """The endpoint's attempts, oldest first; only one event's with `event_id`, only from `since`."""
    low = "-inf" if since is None else since
    found: Any = client.zrangebyscore(keys.delivery_log(endpoint_id), low, "+inf")
    lines = [json.loads(raw) for raw in found]
    return [line for line in lines if event_id in (None, line["event_id"])]
