"""Delivering the head of one endpoint-and-customer list (the `deliver` actor), and the dispatcher
thread every worker process runs to copy new stream entries into those lists."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
import structlog

from worker import keys, metrics, timeline
from worker.delivery import attempts, health, outbox, rate, send
from worker.delivery.endpoints import Endpoint
from worker.delivery.policy import Policy
from worker.queue import schedule

log = structlog.get_logger("delivery")
TOO_MANY_SECONDS = 60.0  # a 429 without Retry-After waits at least this
MOST_ASKED_SECONDS = 24 * 3600.0  # a consumer's Retry-After is honoured up to a day
CONCURRENCY_PER_ENDPOINT = 2  # deliveries in flight to one endpoint from one worker process: the rest of
# its threads keep processing events however slow the endpoint is
_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _slot(endpoint_id: str) -> threading.BoundedSemaphore:
    with _slots_lock:
        return _slots.setdefault(endpoint_id, threading.BoundedSemaphore(CONCURRENCY_PER_ENDPOINT))


def _later(client: redis.Redis, job_id: str, seconds: float, endpoint_id: str, customer_id: str) -> None:
    with client.pipeline() as pipe:
        schedule.add(pipe, job_id, time.time() + seconds, outbox.ACTOR, endpoint_id, customer_id)
        pipe.execute()


def _park(client: redis.Redis, endpoint_id: str, customer_id: str, backoff: tuple[int, ...]) -> None:
    """Look again after the first backoff: the list keeps its order and waits, nothing is dropped."""
    _later(
        client, f"deliver:{endpoint_id}:{customer_id}:parked:{int(time.time())}", backoff[0], endpoint_id, customer_id
    )


def step(
    client: redis.Redis,
    endpoints: dict[str, Endpoint],
    endpoint_id: str,
    customer_id: str,
    policy: Policy,
    post: Callable[[Endpoint, dict[str, Any]], send.Answer] = send.post,
) -> str:
    """Try the list's head once; then queue the next step (delivered or dead), a retry on the
    backoff schedule, or a later check while the endpoint is disabled, missing from the file or
    out of tokens (`rate:`; not an attempt). Every attempt goes to the attempt log."""
    backoff = policy.backoff
    endpoint = endpoints.get(endpoint_id)
    if endpoint is None or health.is_disabled(client, policy, endpoint):
        _park(client, endpoint_id, customer_id, backoff)
        return "parked: endpoint disabled or not in endpoints.yaml"
    item = outbox.head(client, endpoint_id, customer_id)
    if item is None:
        return "nothing queued"
    queued = json.loads(item)
    event, entry = queued["event"], queued.get("entry")
    if not _slot(endpoint_id).acquire(blocking=False):
        _later(client, f"deliver:{endpoint_id}:{customer_id}:busy:{time.time()}", 1, endpoint_id, customer_id)
        return "endpoint busy: in a second"
    try:
        held = rate.wait_for_token(client, endpoint)
        answer = send.Answer("rate_limited") if held > 0 else post(endpoint, event)
    finally:
        _slot(endpoint_id).release()
    if held > 0:
        _later(client, f"deliver:{endpoint_id}:{customer_id}:rate:{time.time()}", held, endpoint_id, customer_id)
        return f"rate limited: in {held:.2f}s"
    outcome, retention = answer.outcome, policy.log_retention_seconds
    if outcome.startswith("http_2"):
        tried = int(client.hget(keys.DELIVERY_ATTEMPTS, f"{endpoint_id}|{customer_id}") or 0) + 1
        outbox.finish(client, endpoint_id, customer_id, item)
        attempts.record(client, endpoint_id, event, answer, tried, None, retention, entry)
        health.succeeded(client, policy, endpoint_id, event, tried)
        _on_timeline(client, customer_id, event, f"delivered to {endpoint_id}")
        metrics.DELIVERIES.labels(endpoint_id, "delivered").inc()
        return f"delivered {event['id']}"
    if outcome == "http_410":
        attempts.record(client, endpoint_id, event, answer, 0, None, retention, entry)
        health.disable(client, policy, endpoint, "it answered 410 Gone")
        log.error("endpoint_disabled", endpoint=endpoint_id, hint="it answered 410 Gone: edit its entry to resume")
        _park(client, endpoint_id, customer_id, backoff)
        return "endpoint answered 410 Gone: disabled until its endpoints.yaml entry changes"
    metrics.DELIVERIES.labels(endpoint_id, "failed_attempt").inc()
    tried = outbox.failed_attempt(client, endpoint_id, customer_id)
    if answer.abort or tried > len(backoff):
        error = f"{outcome}, and the consumer asked to stop (webhook-delivery: abort)" if answer.abort else outcome
        attempts.record(client, endpoint_id, event, answer, tried, None, retention, entry)
        _dead(client, endpoint_id, customer_id, item, event, tried, error)
        health.failed(client, policy, endpoint, event, tried, error, None)
        return f"dead after {tried} attempts: {error}"
    wait = next_wait(backoff[tried - 1], answer)
    attempts.record(client, endpoint_id, event, answer, tried, time.time() + wait, retention, entry)
    _later(client, f"deliver:{endpoint_id}:{customer_id}:{event['id']}:{tried}", wait, endpoint_id, customer_id)
    health.failed(client, policy, endpoint, event, tried, outcome, time.time() + wait)
    return f"attempt {tried} failed ({outcome}): next in {wait:.0f}s"


def next_wait(scheduled: float, answer: send.Answer) -> float:
    """The schedule's delay, exactly (the contract's times: an operator reads when the next attempt
    comes); a consumer's `Retry-After` (429, 503) makes it longer, never shorter, up to a day; a 429
    without one waits at least a minute."""
    wait = float(scheduled)
    if answer.outcome == "http_429":
        wait = max(wait, TOO_MANY_SECONDS)
    if answer.retry_after is not None:
        wait = max(wait, min(answer.retry_after, MOST_ASKED_SECONDS))
    return wait


def _dead(
    client: redis.Redis,
    endpoint_id: str,
    customer_id: str,
    item: str,
    event: dict[str, Any],
    attempts: int,
    error: str,
) -> None:
    dead = {
        "id": f"{endpoint_id}:{event['id']}",
        "endpoint": endpoint_id,
        "customer_id": customer_id,
        "event_id": event["id"],
        "type": event["type"],
        "attempts": attempts,
        "error": error,
        "dead_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "item": item,
    }
    outbox.finish(client, endpoint_id, customer_id, item, dead)
    _on_timeline(client, customer_id, event, f"dead at {endpoint_id} after {attempts} attempts: {error}")
    metrics.DELIVERIES.labels(endpoint_id, "dead").inc()
    log.error("delivery_dead", endpoint=endpoint_id, event_id=event["id"], attempts=attempts, error=error)


def _on_timeline(client: redis.Redis, customer_id: str, event: dict[str, Any], detail: str) -> None:
    """The outcome on the customer's console timeline, after the step it records (a crash between
    the two loses this line, never a delivery)."""
    line = timeline.entry("delivery", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), event["id"], detail)
    with client.pipeline(transaction=False) as pipe:
        timeline.push(pipe, customer_id, line)
        pipe.execute()


class Dispatcher:
    """Copies new stream entries into the delivery lists, and reports pending deliveries."""

    def __init__(self, client: redis.Redis, stream: str, endpoints: Callable[[], dict[str, Endpoint]]) -> None:
        self.client, self.stream, self.endpoints = client, stream, endpoints

    def start(self) -> None:
        threading.Thread(target=self._run, name="upsell-delivery-dispatch", daemon=True).start()

    def _run(self) -> None:
        reported = 0.0
        while True:
            try:
                endpoints = self.endpoints()
                if not endpoints:
                    time.sleep(1)
                    continue
                outbox.dispatch(self.client, self.stream, endpoints.values())
                if time.monotonic() - reported > 5:
                    reported = time.monotonic()
                    for endpoint_id in endpoints:
                        count, age = outbox.pending(self.client, endpoint_id)
                        metrics.DELIVERY_PENDING.labels(endpoint_id).set(count)
                        metrics.DELIVERY_OLDEST.labels(endpoint_id).set(age)
                        gone = self.client.exists(keys.delivery_disabled(endpoint_id))
                        metrics.DELIVERY_DISABLED.labels(endpoint_id).set(gone)
            except redis.RedisError as exc:
                log.warning("delivery_dispatch_failed", error=type(exc).__name__)
                time.sleep(1)
            except Exception as exc:  # the dispatcher must outlive any bug: every delivery waits on it
                metrics.background_error("delivery_dispatch", log, exc)
                time.sleep(1)
