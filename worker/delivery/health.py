"""Endpoint health, told to operators. A delivery failing its 4th attempt emits `delivery.failing`,
its later success `delivery.recovered`; an endpoint whose every attempt has failed for
`disable_after` (counted only once its failures span `failing_span`) is disabled, and so is one that
answers 410 Gone: `endpoint.disabled`. Its lists wait, nothing is dropped; enabling it again (a
changed endpoints.yaml entry, `dodo-upsell deliveries enable`, the console) emits `endpoint.enabled`
and delivers what waited, in order. Operator events go on the stream like any other; the dispatcher
never sends an endpoint the events about itself (outbox.dispatch)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import redis
import structlog

from worker import events, keys
from worker.delivery.endpoints import Endpoint
from worker.delivery.policy import Policy

log = structlog.get_logger("delivery")
FAILING_AFTER = 4  # attempts of one delivery before it is told as failing
ANYONE = "*"  # the customer_id of endpoint.* events: about an endpoint, not a customer


def _emit(
    client: redis.Redis, stream: str, event_type: str, event_id: str, customer: str, data: dict[str, Any]
) -> None:
    fields = events.entry(event_id, event_type, customer, datetime.now(UTC), data["endpoint"], data)
    with client.pipeline() as pipe:
        if customer == ANYONE:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        else:
            events.add(pipe, stream, fields, f"{event_type} at {data['endpoint']}")
        pipe.execute()
    log.warning(event_type.replace(".", "_"), endpoint=data["endpoint"], event_id=data.get("event_id"))


def succeeded(client: redis.Redis, policy: Policy, endpoint_id: str, event: dict[str, Any], attempts: int) -> None:
    """A 2xx: the run of failures is over; a delivery told as failing is told as recovered."""
    with client.pipeline(transaction=False) as pipe:
        pipe.hset(keys.delivery_health(endpoint_id), "last_success", time.time())
        pipe.hdel(keys.delivery_health(endpoint_id), "first_failure")
        pipe.srem(keys.DELIVERY_FAILING, f"{endpoint_id}|{event['id']}")
        told = pipe.execute()[2]
    if told:
        data = {"endpoint": endpoint_id, "event_id": event["id"], "event_type": event["type"], "attempts": attempts}
        event_id = events.stable_id("delivery.recovered", endpoint_id, event["id"])
        _emit(client, policy.stream, "delivery.recovered", event_id, event["customer_id"], data)


def failed(
    client: redis.Redis,
    policy: Policy,
    endpoint: Endpoint,
    event: dict[str, Any],
    attempts: int,
    error: str,
    next_at: float | None,
) -> bool:
    """A failed attempt, counted; True when the endpoint is disabled by it."""
    now = time.time()
    health = keys.delivery_health(endpoint.id)
    with client.pipeline(transaction=False) as pipe:
        pipe.hsetnx(health, "first_failure", now)
        pipe.hset(health, "last_failure", now)
        pipe.hget(health, "first_failure")
        first = float(pipe.execute()[2] or now)
    if attempts == FAILING_AFTER and client.sadd(keys.DELIVERY_FAILING, f"{endpoint.id}|{event['id']}"):
        data = {
            "endpoint": endpoint.id,
            "event_id": event["id"],
            "event_type": event["type"],
            "attempts": attempts,
            "error": error,
            "next_attempt_at": events.iso(datetime.fromtimestamp(next_at, UTC)) if next_at else None,
        }
        event_id = events.stable_id("delivery.failing", endpoint.id, event["id"])
        _emit(client, policy.stream, "delivery.failing", event_id, event["customer_id"], data)
    span = now - first
    if span >= policy.disable_after_seconds and span >= policy.failing_span_seconds:
        since = events.iso(datetime.fromtimestamp(first, UTC))
        disable(client, policy, endpoint, f"every attempt failed since {since}", since)
        return True
    return False


def disable(client: redis.Redis, policy: Policy, endpoint: Endpoint, reason: str, since: str | None = None) -> None:
    """Disabled until its endpoints.yaml entry changes or it is enabled; told once."""
    if client.set(keys.delivery_disabled(endpoint.id), endpoint.fingerprint, nx=True):
        data = {"endpoint": endpoint.id, "reason": reason, "failing_since": since}
        event_id = events.stable_id("endpoint.disabled", endpoint.id, str(time.time()))
        _emit(client, policy.stream, "endpoint.disabled", event_id, ANYONE, data)


def enable(client: redis.Redis, policy: Policy, endpoint_id: str, how: str) -> bool:
    """Enabled again (`how`: file, cli, console); False if it was not disabled. Its run of
    failures starts over, and its waiting lists are looked at within their park interval."""
    with client.pipeline() as pipe:
        pipe.delete(keys.delivery_disabled(endpoint_id))
        pipe.hdel(keys.delivery_health(endpoint_id), "first_failure")
        was = pipe.execute()[0]
    if was:
        event_id = events.stable_id("endpoint.enabled", endpoint_id, str(time.time()))
        _emit(client, policy.stream, "endpoint.enabled", event_id, ANYONE, {"endpoint": endpoint_id, "how": how})
    return bool(was)


def is_disabled(client: redis.Redis, policy: Policy, endpoint: Endpoint) -> bool:
    """Disabled with this very file entry; an edited entry enables it again."""
    held = client.get(keys.delivery_disabled(endpoint.id))
    if held is None:
        return False
    if (held.decode() if isinstance(held, bytes) else str(held)) == endpoint.fingerprint:
        return True
    enable(client, policy, endpoint.id, "file")
    return False
