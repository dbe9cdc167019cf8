"""The Dramatiq Redis broker, tuned so a dead worker's messages come back in seconds, not minutes."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, CurrentMessage, Pipelines, Retries, ShutdownNotifications, TimeLimit

from worker import intake

# A worker silent this long is dead and its unacked messages are requeued. Every blocking call
# in an actor (Dodo HTTP above all) times out well under it, or a live worker's message would be
# run a second time concurrently (Dramatiq #692).
HEARTBEAT_TIMEOUT_MS = 15_000
# Requeueing happens in a maintenance pass that runs on this share (per million) of broker calls.
MAINTENANCE_CHANCE = 100_000
TIME_LIMIT_MS = 60_000
MAX_RETRIES = 5
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000
MAX_AGE_MS = 24 * 3600 * 1000


class PermanentError(Exception):
    """Retrying cannot help (the event itself is wrong): dead-letter it at once."""


def build(redis_url: str, *, prometheus: bool, extra: list[dramatiq.Middleware] = ()) -> RedisBroker:
    # `extra` goes first: Dramatiq runs after-hooks in reverse order, so these see Retries' verdict.
    middleware = [
        *extra,
        AgeLimit(max_age=MAX_AGE_MS),
        TimeLimit(time_limit=TIME_LIMIT_MS),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
        CurrentMessage(),
    ]
    if prometheus:
        from dramatiq.middleware.prometheus import Prometheus

        middleware.insert(0, Prometheus())
    broker = RedisBroker(
        client=redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=10),
        namespace=intake.NAMESPACE,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
        middleware=middleware,
    )
    dramatiq.set_broker(broker)
    return broker
