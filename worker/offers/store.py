"""Offers in Redis: creation under limits and state transitions, each atomic with its event."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
from redis.client import Pipeline

from worker import catalog, events, keys, metrics, redis_scripts
from worker.offers import links
from worker.offers.model import Offer
from worker.queue import messages, schedule
from worker.stats import counters

T = TypeVar("T")
SETTLED = ("declined", "expired", "failed", "converted")  # an offer in these is kept 400 days, like its figures


def get(client: redis.Redis, offer_id: str) -> Offer | None:
    raw = client.get(keys.offer(offer_id))
    return Offer.loads(raw) if raw else None


def for_customer(client: redis.Redis, customer_id: str) -> list[Offer]:
    """Every offer, oldest first: for the worker's own passes over a customer's offers."""
    ids: list[Any] = client.zrange(keys.customer_offers(customer_id), 0, -1)
    return _loaded(client, ids)


def page(
    client: redis.Redis, customer_id: str, offset: int, limit: int, newest_first: bool = False
) -> tuple[list[Offer], int | None]:
    """`limit` offers from `offset`, oldest first (the API's order since the start: new offers join
    the end, so a reader paging meanwhile misses none and sees none twice), or newest first for a
    glance (the console); and the next offset, None at the end."""
    read = client.zrevrange if newest_first else client.zrange
    ids: list[Any] = read(keys.customer_offers(customer_id), offset, offset + limit)
    more = len(ids) > limit
    return _loaded(client, ids[:limit]), (offset + limit if more else None)


def _loaded(client: redis.Redis, ids: list[Any]) -> list[Offer]:
    raws = client.mget([keys.offer(i if isinstance(i, str) else i.decode()) for i in ids]) if ids else []
    return [Offer.loads(raw) for raw in raws if raw]


def emit(
    pipe: Pipeline,
    stream: str,
    event_type: str,
    offer: Offer,
    source: str,
    event_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """The offer event and, for types rules can trigger on, the message that evaluates them.
    `occurred_at` is the cause's time (`at`: a webhook's timestamp, an expiry's moment), else now."""
    event_id = event_id or events.stable_id(offer.offer_id, event_type)
    when = at or datetime.now(UTC)
    events.add(pipe, stream, events.entry(event_id, event_type, offer.customer_id, when, source, offer.event_view()))
    if event_type in catalog.OFFER_TRIGGERS:
        messages.push(pipe, messages.internal("offer_event", offer.offer_id, event_type))


def _guarded(client: redis.Redis, guards: list[tuple[str, Any]], record: Callable[[Pipeline], None]) -> int:
    """Run the commands `record` puts on a pipeline in one atomic script (guarded_exec.lua), only if
    each guard holds: (key, None) the key is absent, (key, value) it holds exactly that value.
    Returns 0 when they ran, else the number of the first guard that failed."""
    with client.pipeline(transaction=False) as pipe:
        record(pipe)  # recorded, never sent: the script runs them
        commands: list[Any] = []
        for args, _ in pipe.command_stack:
            commands += [len(args), *args]
    tests = [
        "!" if value is None else b"=" + (value if isinstance(value, bytes) else value.encode()) for _, value in guards
    ]
    return int(redis_scripts.run(client, "guarded_exec", [key for key, _ in guards], [*tests, *commands]))


def _watched(client: redis.Redis, watch: list[str], body: Callable[[Pipeline], T]) -> T:
    """Run `body` under WATCH until no watched key changed under it."""
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(*watch)
                return body(pipe)
            except redis.WatchError:
                continue


def create(
    client: redis.Redis,
    stream: str,
    offer: Offer,
    *,
    once: bool,
    cooldown: bool,
    at: datetime | None = None,
    terms: dict[str, Any] | None = None,
) -> str:
    """Store a new pending offer unless it exists or a limit forbids it.

    Returns "created", "exists", "once_per_customer" or "cooldown_after_decline".
    """
    links.share(client)  # offer events carry offer_url: the shared key is read once per process
    guards = [(keys.offer(offer.offer_id), None)]
    guards += [(keys.once(offer.rule_id, offer.customer_id), None)] if once else []
    guards += [(keys.cooldown(offer.rule_id, offer.customer_id), None)] if cooldown else []
    refusals = ["exists", *(["once_per_customer"] if once else []), *(["cooldown_after_decline"] if cooldown else [])]

    def record(pipe: Pipeline) -> None:
        pipe.set(keys.offer(offer.offer_id), offer.dumps())
        pipe.zadd(keys.customer_offers(offer.customer_id), {offer.offer_id: time.time()})
        if once:
            pipe.set(keys.once(offer.rule_id, offer.customer_id), offer.offer_id)
        due = offer.expires_at_ts()
        if due is not None:
            schedule.add(pipe, f"expire:{offer.offer_id}", due, "expire_offer", offer.offer_id)
        emit(pipe, stream, "offer.created", offer, offer.source, at=at)
        counters.count(pipe, offer, "created")
        if terms is not None:
            counters.terms(pipe, offer, terms)

    failed = _guarded(client, guards, record)
    if failed:
        return refusals[failed - 1]
    metrics.OFFERS.labels(offer.rule_id, "created").inc()
    return "created"


def transition(
    client: redis.Redis,
    stream: str,
    offer_id: str,
    to: str,
    changes: dict[str, Any] | None = None,
    *,
    event_type: str | None = None,
    source: str | None = None,
    also: Callable[[Pipeline, Offer], None] | None = None,
    at: datetime | None = None,
) -> tuple[bool, Offer | None]:
    """Move an offer to `to` if the state machine allows it from where it is now; `also` adds
    commands (a message, a job) to the same transaction. A pending offer past its `expires_at`
    moves to expired instead, whenever the expiry job runs: it is never accepted or declined late.

    Returns (moved to `to`, offer as it is afterwards); moved is False when it was elsewhere.
    """
    links.share(client)  # offer events carry offer_url: the shared key is read once per process

    while True:
        raw = client.get(keys.offer(offer_id))
        if raw is None:
            return False, None
        offer = Offer.loads(raw)
        target, kind, extra = to, event_type, changes or {}
        when = at
        if offer.state == "pending" and offer.expired():
            target, kind, extra = "expired", "offer.expired", {} if to != "expired" else extra
            when = datetime.fromisoformat(str(offer.expires_at).replace("Z", "+00:00"))  # it expired then
        if not offer.can_move_to(target):
            return False, offer
        offer = Offer.model_validate(offer.model_dump() | extra | {"state": target})

        def record(
            pipe: Pipeline, offer: Offer = offer, target: str = target, kind: str | None = kind, when: Any = when
        ) -> None:
            pipe.set(keys.offer(offer_id), offer.dumps())
            if target in SETTLED:  # kept as long as its figures are, then it goes (pages skip it)
                pipe.expire(keys.offer(offer_id), counters.KEEP_SECONDS)
            if target == "charging":  # the alert on charges unsettled past the last reconcile reads this
                pipe.zadd(keys.CHARGING, {offer_id: time.time()})
            else:  # left charging, or never was (a no-op then)
                pipe.zrem(keys.CHARGING, offer_id)
            if target != "expired":  # it left pending: its expiry job has nothing left to do
                schedule.cancel(pipe, f"expire:{offer_id}")
            if target == "declined" and offer.cooldown_seconds:
                pipe.set(keys.cooldown(offer.rule_id, offer.customer_id), offer_id, ex=offer.cooldown_seconds)
            if kind:
                emit(pipe, stream, kind, offer, source or offer_id, at=when)
                counters.count(pipe, offer, kind.removeprefix("offer."))
            if also and target == to:
                also(pipe, offer)

        if _guarded(client, [(keys.offer(offer_id), raw)], record):
            continue  # it changed since it was read: read it again
        if kind:
            metrics.OFFERS.labels(offer.rule_id, kind.removeprefix("offer.")).inc()
        return target == to, offer


def annotate(client: redis.Redis, offer_id: str, state: str, changes: dict[str, Any]) -> Offer | None:
    """Record facts (quote, session, payment id) on an offer still in `state`; None if it moved on."""

    def body(pipe: Pipeline) -> Offer | None:
        raw = pipe.get(keys.offer(offer_id))
        offer = Offer.loads(raw) if raw else None
        if offer is None or offer.state != state:
            return None
        offer = Offer.model_validate(offer.model_dump() | changes)
        pipe.multi()
        pipe.set(keys.offer(offer_id), offer.dumps(), keepttl=True)
        pipe.execute()
        return offer

    return _watched(client, [keys.offer(offer_id)], body)


def notify_once(client: redis.Redis, stream: str, event_type: str, offer: Offer, source: str, event_id: str) -> bool:
    """An event about an offer that no state change guards (a reminder): once per event id."""
    links.share(client)  # offer events carry offer_url: the shared key is read once per process
    mark = keys.notified(event_id)

    def body(pipe: Pipeline) -> bool:
        if pipe.exists(mark):
            return False
        pipe.multi()
        pipe.set(mark, "1", ex=keys.NOTIFIED_TTL)
        emit(pipe, stream, event_type, offer, source, event_id)
        pipe.execute()
        return True

    return _watched(client, [mark], body)


def expire_pending(
    client: redis.Redis,
    stream: str,
    customer_id: str,
    source: str,
    at: datetime | None = None,
    made_by: str | None = None,
) -> list[str]:
    """Expire every pending offer of a customer who must see no offers now (refund, open dispute),
    or only those a trigger made (`made_by`) once what they offered for has happened anyway."""
    expired = []
    for offer in for_customer(client, customer_id):
        if offer.state == "pending" and made_by in (None, offer.trigger):
            moved, _ = transition(
                client, stream, offer.offer_id, "expired", event_type="offer.expired", source=source, at=at
            )
            if moved:
                expired.append(offer.offer_id)
    return expired
