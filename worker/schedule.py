"""The worker's own schedule: due messages in a sorted set, claimed atomically, then queued.

Not Dramatiq's delay queue (a FIFO list held in worker memory, late after restarts, can
duplicate: see reference/dramatiq.md). A job is an encoded Dramatiq message kept in a hash; one
Lua script moves every due job onto its queue, so a job is never lost and never queued twice.
"""

from __future__ import annotations

import threading
import time

import dramatiq
import redis
import structlog
from redis.client import Pipeline

from worker import intake

SCHEDULE = "upsell:schedule"
JOBS = "upsell:jobs"
POLL_SECONDS = 0.5
log = structlog.get_logger("schedule")

_CLAIM = """
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('zrem', KEYS[1], id)
  local body = redis.call('hget', KEYS[2], id)
  redis.call('hdel', KEYS[2], id)
  if body then
    redis.call('hset', KEYS[3] .. '.msgs', id, body)
    redis.call('rpush', KEYS[3], id)
  end
end
return #due
"""


def add(pipe: Pipeline, job_id: str, due: float, actor_name: str, *args: str) -> None:
    """Schedule on a MULTI; the same job id twice keeps the first (ZADD NX, HSETNX)."""
    message = intake.internal_message(actor_name, *args, message_id=job_id)
    pipe.zadd(SCHEDULE, {job_id: due}, nx=True)
    pipe.hsetnx(JOBS, job_id, message.encode())


def claim_due(client: redis.Redis, now: float | None = None, limit: int = 500) -> int:
    queue = f"{intake.NAMESPACE}:{intake.INTERNAL_QUEUE}"
    return int(client.eval(_CLAIM, 3, SCHEDULE, JOBS, queue, now or time.time(), limit))  # type: ignore[arg-type]


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
        while not self._stop.wait(POLL_SECONDS):
            try:
                while claim_due(self.client) > 0:
                    pass
            except redis.RedisError as exc:
                log.warning("schedule_poll_failed", error=type(exc).__name__)
