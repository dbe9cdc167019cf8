"""Each customer's recent history for the console: compact entries (what, when, source, detail),
the newest 200, written in the same step as what they record, so a page reads one list and never
scans the stream."""

from __future__ import annotations

from typing import Any

import orjson
import redis

from worker import keys

KEEP = 200


def entry(what: str, at: str, source: str, detail: str = "") -> str:
    return orjson.dumps({"what": what, "at": at, "source": source, "detail": detail}).decode()


def push(pipe: Any, customer_id: str, item: str) -> None:
    """On a pipeline or MULTI that also makes the change the entry records."""
    pipe.lpush(keys.timeline(customer_id), item)
    pipe.ltrim(keys.timeline(customer_id), 0, KEEP - 1)


def read(client: redis.Redis, customer_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first."""
    raws: Any = client.lrange(keys.timeline(customer_id), 0, limit - 1)
    return [orjson.loads(raw) for raw in raws]
