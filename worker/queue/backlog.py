"""What waits for an operator, as gauges the shipped alerts read (deploy/prometheus/alerts.yml):
dead letters, dead deliveries, and the oldest offer still charging. Set by every worker's schedule
poller every REPORT_SECONDS (a few reads; the gauges keep the highest value any worker saw)."""

from __future__ import annotations

import time
from typing import Any

import redis

from worker import keys, metrics

REPORT_SECONDS = 15.0


def report(client: redis.Redis, now: float | None = None) -> None:
    with client.pipeline(transaction=False) as pipe:
        pipe.hlen(keys.DEAD_LETTERS)
        pipe.hlen(keys.DELIVERY_DEAD)
        pipe.zrange(keys.CHARGING, 0, 0, withscores=True)
        dead, deliveries, oldest = pipe.execute()
    charging: list[Any] = oldest
    metrics.DEAD_LETTERS.set(int(dead))
    metrics.DELIVERIES_DEAD.set(int(deliveries))
    since = float(charging[0][1]) if charging else None
    metrics.CHARGING_OLDEST.set(max(0.0, (now or time.time()) - since) if since is not None else 0.0)
