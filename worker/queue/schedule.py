"""The worker's own schedule: due messages in a sorted set, claimed atomically, then queued.

Not Dramatiq's delay queue (a FIFO list held in worker memory, late after restarts, can
duplicate, and a far-future message blocks due ones behind it). A job is an encoded Dramatiq message kept in a hash; one
Lua script (scripts/claim_due.lua) moves every due job onto its queue, so a job is never lost and
never queued twice.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
import redis
import structlog
from redis.client import Pipeline

from worker import keys, metrics, redis_scripts
from worker.queue import backlog, messages

POLL_SECONDS = 0.5
log = structlog.get_logger("schedule")


def add(pipe: Pipeline, job_id: str, due: float, actor_name: str, *args: str) -> None:
    """Schedule on a MULTI; the same job id twice keeps the first (ZADD NX, HSETNX)."""
    message = messages.internal(actor_name, *args, message_id=job_id)
    pipe.zadd(keys.SCHEDULE, {job_id: due}, nx=True)
    pipe.hsetnx(keys.JOBS, job_id, message.encode())


def cancel(pipe: Pipeline, job_id: str) -> None:
    pipe.zrem(keys.SCHEDULE, job_id)
    pipe.hdel(keys.JOBS, job_id)


def lag(client: redis.Redis, now: float | None = None) -> float:
    """Seconds the oldest job is overdue (0 when none is): a growing lag means the pollers are behind."""
    oldest: list[Any] = client.zrange(keys.SCHEDULE, 0, 0, withscores=True)
    return max(0.0, (now or time.time()) - float(oldest[0][1])) if oldest else 0.0


def claim_due(client: redis.Redis, now: float | None = None, limit: int = 500) -> int:
    script_keys = [keys.SCHEDULE, keys.JOBS, keys.queue(keys.INTERNAL_QUEUE)]
    return int(redis_scripts.run(client, "claim_due", script_keys, [now or time.time(), limit]))


class Poller(dramatiq.Middleware):
    """Each worker process polls; the Lua claim makes concurrent pollers safe."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._stop = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        threading.Thread(target=self._run, name="upsell-schedule", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def _run(self) -> None:
        reported = 0.0
        while not self._stop.wait(POLL_SECONDS):
            try:
                metrics.SCHEDULE_LAG.set(lag(self.client))
                if time.monotonic() - reported >= backlog.REPORT_SECONDS:
                    reported = time.monotonic()
                    backlog.report(self.client)
                while claim_due(self.client) > 0:
                    pass
            except redis.RedisError as exc:
                log.warning("schedule_poll_failed", error=type(exc).__name__)
            except Exception as exc:  # the poller must outlive any bug: every job waits on it
                metrics.background_error("schedule_poll", log, exc)
