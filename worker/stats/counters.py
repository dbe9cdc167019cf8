"""What each rule earns, as counters per UTC day: incremented inside the same Redis transaction as
the offer transition or payment that causes them, so a redelivered event never counts twice, and
read per day, so a report costs the same whether 1,000 or 1,000,000 offers were made."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import redis
from redis.client import Pipeline

from worker import keys


class Offer(Protocol):
    """What a counter reads of an offer (offers sit above stats and pass theirs in)."""

    @property
    def rule_id(self) -> str: ...
    @property
    def variant(self) -> str: ...
    @property
    def variant_id(self) -> str | None: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def offer_id(self) -> str: ...


SEP = "\x1f"  # between rule id, variant and metric in a field name: no rule id holds it
KEEP_SECONDS = 400 * keys.DAY
COUNTS = (
    "would_create",
    "held_out",
    "too_deep",
    "discount_unavailable",
    "created",
    "accepted",
    "converted",
    "declined",
    "expired",
    "failed",
)
GUARDRAILS = ("refunds", "disputed", "cancelled_early")  # converted offers refunded, disputed, cancelled in 30 d


def day(at: float | None = None) -> str:
    return datetime.fromtimestamp(at or time.time(), UTC).strftime("%Y-%m-%d")


def field(offer: Offer, metric: str) -> str:
    """Keyed by the variant's identity (name@terms hash); offers made before identities had one, by name."""
    return SEP.join((offer.rule_id, offer.variant_id or offer.variant, metric))


def terms(pipe: Pipeline, offer: Offer, offered: dict[str, object]) -> None:
    """What a variant identity offers, for reports to show beside its figures (one field per identity)."""
    pipe.hset(keys.variant_terms(), SEP.join((offer.rule_id, offer.variant_id or offer.variant)), json.dumps(offered))


def parse(raw_field: bytes | str, raw_value: bytes | str) -> tuple[str, str, str, int] | None:
    """(rule id, variant, metric, value) of a stored counter, or None for one no report can use
    (written before names had a grammar, say): readers skip and count those, never fail on them."""
    try:
        field = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
        rule_id, variant, metric = field.split(SEP)
        value = int(raw_value)
    except ValueError:
        return None
    money, _, currency = metric.partition(":")
    known = metric in COUNTS + GUARDRAILS or (money in ("revenue", "refunded") and re.fullmatch("[A-Z]{3}", currency))
    return (rule_id, variant, metric, value) if known else None


def count(pipe: Pipeline, offer: Offer, metric: str, by: int = 1) -> None:
    """Queue an increment on a MULTI: `metric` is one of COUNTS, or revenue:/refunded:<currency>;
    and the same per rule set version when the offer carries one (rules/history.py)."""
    today = day()
    key = keys.stats(today)
    pipe.hincrby(key, field(offer, metric), by)
    pipe.expire(key, KEEP_SECONDS)
    version = getattr(offer, "rule_set", None)
    if version:
        pipe.hincrby(keys.stats_versions(today), SEP.join((offer.rule_id, version, metric)), by)
        pipe.expire(keys.stats_versions(today), KEEP_SECONDS)


def revenue(pipe: Pipeline, offer: Offer, amount: int, currency: str) -> None:
    count(pipe, offer, f"revenue:{currency.upper()}", amount)


def refunded(pipe: Pipeline, offer: Offer, amount: int, currency: str) -> None:
    count(pipe, offer, f"refunded:{currency.upper()}", amount)


def _once(client: redis.Redis, mark: str, watch: list[str], body: Callable[[Pipeline], None]) -> bool:
    """Run `body` on a MULTI with `mark` set, unless `mark` (or another watched key) is set already."""
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(mark, *watch)
                if any(pipe.exists(key) for key in (mark, *watch)):
                    return False
                pipe.multi()
                pipe.set(mark, "1", ex=KEEP_SECONDS)
                body(pipe)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def refund(
    client: redis.Redis, refund_id: str, payment_id: str, offer: Offer, amount: int, currency: str, cap: int | None
) -> int:
    """A refund of a payment that converted `offer`, counted once per refund id (whatever webhook-id
    delivers it), partial refunds adding up, never above the payment's amount. Returns what counted."""
    mark, total_key = keys.stats_counted(f"refund:{refund_id}"), keys.stats_counted(f"refunded:{payment_id}")
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(mark, total_key)
                if pipe.exists(mark):
                    return 0
                so_far = int(pipe.get(total_key) or 0)
                counted = max(0, min(amount, cap - so_far)) if cap is not None else max(0, amount)
                pipe.multi()
                pipe.set(mark, "1", ex=KEEP_SECONDS)
                pipe.set(total_key, so_far + counted, ex=KEEP_SECONDS)
                if counted:
                    refunded(pipe, offer, counted, currency)
                if counted and so_far == 0:
                    count(pipe, offer, "refunds")  # the offer's first refund: the refund rate
                pipe.execute()
                return counted
            except redis.WatchError:
                continue


def once(client: redis.Redis, mark_id: str, offer: Offer, metric: str) -> bool:
    """Count `metric` for the offer's rule and variant once per `mark_id` (a dispute's payment, a
    cancelled upgrade), whatever delivers it again."""

    def body(pipe: Pipeline) -> None:
        count(pipe, offer, metric)

    return _once(client, keys.stats_counted(mark_id), [], body)


def shadow(client: redis.Redis, offer: Offer, once_per_customer: bool, offered: dict[str, object]) -> bool:
    """A shadow rule's would-be offer: counted once per offer id (and customer, if the rule says so),
    never stored, shown, charged or emitted. Its limits are its own: they never block a live rule."""
    watch = [keys.once(f"shadow{SEP}{offer.rule_id}", offer.customer_id)] if once_per_customer else []

    def body(pipe: Pipeline) -> None:
        count(pipe, offer, "would_create")
        terms(pipe, offer, offered)
        for key in watch:
            pipe.set(key, offer.offer_id)

    return _once(client, keys.stats_counted(offer.offer_id), watch, body)
