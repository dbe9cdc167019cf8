"""`rate: N/s` or `N/m` on an endpoint: a token bucket in Redis, so the limit holds across every
worker process. A delivery that finds no token waits (scheduled again when one will be there):
that is not an attempt, and its list keeps its order."""

from __future__ import annotations

import time

import redis

from worker import keys, redis_scripts
from worker.delivery.endpoints import Endpoint


def wait_for_token(client: redis.Redis, endpoint: Endpoint, now: float | None = None) -> float:
    """0 when this attempt may go now (a token taken), else the seconds until a token is there."""
    if endpoint.rate_per_second is None:
        return 0.0
    rate = endpoint.rate_per_second
    capacity = max(1.0, rate)  # N/s: a second's worth at once; N/m: one at a time, evenly spaced
    now = time.time() if now is None else now
    found = redis_scripts.run(client, "rate_take", [keys.delivery_rate(endpoint.id)], [now, rate, capacity])
    return float(found)
