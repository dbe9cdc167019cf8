"""Outbound attempts run on a bounded pool of threads of their own, never on Dramatiq's: however
slowly an endpoint answers (one byte every few seconds), it holds one of these threads for at most
send.ATTEMPT_SECONDS and never delays a webhook. The `deliver` message is acknowledged once the
attempt is handed over, so before that a watch job is scheduled to run the step again should this
process die mid-attempt; the finished step cancels it."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
import structlog

from worker import metrics
from worker.delivery import outbox, send
from worker.queue import schedule

log = structlog.get_logger("delivery")
THREADS = 16  # attempts in flight per worker process; past that a step waits a second
WATCH_SECONDS = send.ATTEMPT_SECONDS + 5  # the step's own deadline, and time to record its outcome


class Pool:
    def __init__(self, threads: int = THREADS) -> None:
        self._threads = threads
        self._free = threading.BoundedSemaphore(threads)
        self._work: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def _submit(self, *work: Any) -> None:
        """Daemon threads, made on first use (a forked worker process gets its own): a worker that
        stops does not wait for a slow endpoint's attempt, whose watch job redoes it."""
        with self._lock:
            if not self._started:
                for n in range(self._threads):
                    threading.Thread(target=self._serve, name=f"upsell-deliver-{n}", daemon=True).start()
                self._started = True
        self._work.put(work)

    def _serve(self) -> None:
        while True:
            self._run(*self._work.get())

    def submit(self, client: redis.Redis, endpoint_id: str, customer_id: str, step: Callable[[], str]) -> str:
        """Run `step` on a pool thread, guarded by a watch job; with every thread taken, again in a second."""
        if not self._free.acquire(blocking=False):
            job = f"deliver:{endpoint_id}:{customer_id}:threads-busy:{time.time()}"
            with client.pipeline() as pipe:
                schedule.add(pipe, job, time.time() + 1, outbox.ACTOR, endpoint_id, customer_id)
                pipe.execute()
            return "delivery threads busy: in a second"
        watch = f"deliver:{endpoint_id}:{customer_id}:watch:{uuid.uuid4().hex}"
        try:
            with client.pipeline() as pipe:
                schedule.add(pipe, watch, time.time() + WATCH_SECONDS, outbox.ACTOR, endpoint_id, customer_id)
                pipe.execute()
            context = structlog.contextvars.get_contextvars()
            self._submit(client, watch, step, context)
        except BaseException:
            self._free.release()
            raise
        return "handed over"

    def _run(self, client: redis.Redis, watch: str, step: Callable[[], str], context: dict[str, object]) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**context)
        try:
            log.info("delivery_step", outcome=step())
            with client.pipeline() as pipe:
                schedule.cancel(pipe, watch)
                pipe.execute()
        except redis.RedisError as exc:  # the watch job runs the step again
            log.warning("delivery_step_failed", error=type(exc).__name__, hint="tried again by its watch job")
        except Exception as exc:
            metrics.background_error("delivery_step", log, exc)
        finally:
            self._free.release()


POOL = Pool()
