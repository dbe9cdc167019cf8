"""Offers in Redis: creation under limits and state transitions, each atomic with its event.

States: pending -> charging -> converted | failed; pending -> declined | expired.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import redis
from redis.client import Pipeline

from worker import events, intake, schedule

TRANSITIONS = {
    "pending": {"charging", "declined", "expired"},
    "charging": {"converted", "failed"},
    "failed": {"converted"},  # Dodo's payment.succeeded is the truth, even after we gave up waiting
}
FOLLOW_UP = {"offer.created", "offer.declined", "offer.failed"}  # rules may trigger on these


def key(offer_id: str) -> str:
    return f"upsell:offer:{offer_id}"


def customer_index(customer_id: str) -> str:
    return f"upsell:customer-offers:{customer_id}"


def once_key(rule_id: str, customer_id: str) -> str:
    return f"upsell:once:{rule_id}:{customer_id}"


def cooldown_key(rule_id: str, customer_id: str) -> str:
    return f"upsell:cooldown:{rule_id}:{customer_id}"


def get(client: redis.Redis, offer_id: str) -> dict[str, Any] | None:
    raw = client.get(key(offer_id))
    return json.loads(raw) if raw else None


def for_customer(client: redis.Redis, customer_id: str) -> list[dict[str, Any]]:
    ids = client.zrange(customer_index(customer_id), 0, -1)
    raws = client.mget([key(i if isinstance(i, str) else i.decode()) for i in ids]) if ids else []
    return [json.loads(raw) for raw in raws if raw]


def emit(pipe: Pipeline, stream: str, event_type: str, offer: dict[str, Any], source: str, event_id: str | None = None) -> None:
    """The offer event and, for types rules can trigger on, the message that evaluates them."""
    event_id = event_id or events.stable_id(offer["offer_id"], event_type)
    now = datetime.now(timezone.utc)
    events.add(pipe, stream, events.entry(event_id, event_type, offer["customer_id"], now, source, offer))
    if event_type in FOLLOW_UP:
        intake.push(pipe, intake.internal_message("offer_event", offer["offer_id"], event_type))


def _watched(client: redis.Redis, keys: list[str], body: Callable[[Pipeline], Any]) -> Any:
    """Run `body` under WATCH until no watched key changed under it."""
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(*keys)
                return body(pipe)
            except redis.WatchError:
                continue


def create(client: redis.Redis, stream: str, offer: dict[str, Any], *, once: bool, cooldown: bool) -> str:
    """Store a new pending offer unless it exists or a limit forbids it.

    Returns "created", "exists", "once_per_customer" or "cooldown_after_decline".
    """
    rule_id, customer_id = offer["rule_id"], offer["customer_id"]
    keys = [key(offer["offer_id"]), once_key(rule_id, customer_id), cooldown_key(rule_id, customer_id)]

    def body(pipe: Pipeline) -> str:
        if pipe.exists(keys[0]):
            return "exists"
        if once and pipe.exists(keys[1]):
            return "once_per_customer"
        if cooldown and pipe.exists(keys[2]):
            return "cooldown_after_decline"
        pipe.multi()
        pipe.set(keys[0], json.dumps(offer))
        pipe.zadd(customer_index(customer_id), {offer["offer_id"]: time.time()})
        if once:
            pipe.set(keys[1], offer["offer_id"])
        if offer["expires_at"]:
            due = datetime.fromisoformat(offer["expires_at"].replace("Z", "+00:00")).timestamp()
            schedule.add(pipe, f"expire:{offer['offer_id']}", due, "expire_offer", offer["offer_id"])
        emit(pipe, stream, "offer.created", offer, offer["source"])
        pipe.execute()
        return "created"

    return _watched(client, keys, body)


def transition(client: redis.Redis, stream: str, offer_id: str, to: str, changes: dict[str, Any] | None = None,
               *, event_type: str | None = None, source: str | None = None,
               also: Callable[[Pipeline, dict[str, Any]], None] | None = None) -> tuple[bool, dict[str, Any] | None]:
    """Move an offer to `to` if the state machine allows it from where it is now; `also` adds
    commands (a message, a job) to the same transaction.

    Returns (moved, offer as it is afterwards); moved is False when it was elsewhere already.
    """

    def body(pipe: Pipeline) -> tuple[bool, dict[str, Any] | None]:
        raw = pipe.get(key(offer_id))
        if raw is None:
            return False, None
        offer = json.loads(raw)
        if to not in TRANSITIONS.get(offer["state"], ()):
            return False, offer
        offer.update(changes or {}, state=to)
        pipe.multi()
        pipe.set(key(offer_id), json.dumps(offer))
        if to == "declined" and offer.get("cooldown_seconds"):
            pipe.set(cooldown_key(offer["rule_id"], offer["customer_id"]), offer_id, ex=offer["cooldown_seconds"])
        if event_type:
            emit(pipe, stream, event_type, offer, source or offer_id)
        if also:
            also(pipe, offer)
        pipe.execute()
        return True, offer

    return _watched(client, [key(offer_id)], body)


def annotate(client: redis.Redis, offer_id: str, state: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Record facts (quote, session, payment id) on an offer still in `state`; None if it moved on."""

    def body(pipe: Pipeline) -> dict[str, Any] | None:
        raw = pipe.get(key(offer_id))
        offer = json.loads(raw) if raw else None
        if offer is None or offer["state"] != state:
            return None
        offer.update(changes)
        pipe.multi()
        pipe.set(key(offer_id), json.dumps(offer))
        pipe.execute()
        return offer

    return _watched(client, [key(offer_id)], body)


def notify_once(client: redis.Redis, stream: str, event_type: str, offer: dict[str, Any], source: str, event_id: str) -> bool:
    """An event about an offer that no state change guards (a reminder): once per event id."""
    mark = f"upsell:notified:{event_id}"

    def body(pipe: Pipeline) -> bool:
        if pipe.exists(mark):
            return False
        pipe.multi()
        pipe.set(mark, "1", ex=30 * 86400)
        emit(pipe, stream, event_type, offer, source, event_id)
        pipe.execute()
        return True

    return _watched(client, [mark], body)
