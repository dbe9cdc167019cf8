"""The Dramatiq Redis broker, tuned so a dead worker's messages come back in seconds, not minutes."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from typing import Any

import dramatiq
import orjson
from dramatiq.broker import Consumer
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from worker import keys, redisconn
from worker.queue import wake

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


class RecoveringRedisBroker(RedisBroker):
    """A RedisBroker whose consumers do not strand messages when the Redis connection breaks.

    On a connection error Dramatiq restarts the consumer and drops the messages it had prefetched;
    their ids stay in this broker id's acks set, and a live broker id is never considered dead, so
    they would never run. Restarting a consumer therefore takes a new broker id: the old one stops
    heartbeating and within HEARTBEAT_TIMEOUT_MS maintenance requeues what it left unacknowledged.
    Messages still running under the old id may run again; every actor is idempotent.
    """

    consumer_class = wake.WakingConsumer
    wake_on_enqueue = True  # False: consumers sleep between empty fetches as Dramatiq's do

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        """Dramatiq's enqueue (retries, `actor.send`), then a wake-up token for a waiting worker."""
        sent = super().enqueue(message, delay=delay)
        if delay is None:
            with self.client.pipeline(transaction=False) as pipe:
                wake.push(pipe, f"{self.namespace}:{sent.queue_name}")
                pipe.execute()
        return sent

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if queue_name in self._consuming:
            self.broker_id = str(uuid.uuid4())
        self._consuming.add(queue_name)
        return super().consume(queue_name, prefetch, timeout)

    @property
    def _consuming(self) -> set[str]:
        return self.__dict__.setdefault("_consuming_queues", set())


def _serve_metrics() -> int:
    """Dramatiq's metrics exporter (a forked process); a taken port is one JSON line, not a traceback."""
    from dramatiq.middleware import prometheus

    try:
        return int(prometheus._run_exposition_server())
    except OSError as exc:
        where = f"{prometheus.HTTP_HOST}:{prometheus.HTTP_PORT}"
        line = {
            "event": "metrics_port_unavailable",
            "level": "error",
            "address": where,
            "error": exc.strerror,
            "hint": "set dramatiq_prom_port (and dramatiq_prom_host) to a free one; the worker runs without metrics",
        }
        sys.stderr.write(orjson.dumps(line).decode() + "\n")
        return 1


def _prometheus() -> dramatiq.Middleware:
    from dramatiq.middleware.prometheus import Prometheus

    class Exporter(Prometheus):
        @property
        def forks(self) -> list[Any]:
            return [_serve_metrics]

    return Exporter()


def build(
    redis_url: str, *, prometheus: bool, extra: Sequence[dramatiq.Middleware] = (), wake_on_enqueue: bool = True
) -> RedisBroker:
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
        middleware.insert(0, _prometheus())
    broker = RecoveringRedisBroker(
        client=redisconn.connect(redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=10),
        namespace=keys.NAMESPACE,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
        middleware=middleware,
    )
    broker.wake_on_enqueue = wake_on_enqueue
    dramatiq.set_broker(broker)
    return broker
