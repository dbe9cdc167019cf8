"""What each console page shows, read from Redis and the rules in force: plain dicts for templates.
Card data, e-mail and postal addresses never reach a page: offers are shown as their events show
them, dead letters without their bodies."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from prometheus_client import REGISTRY

from receiver import rates
from receiver.console import charts
from worker import keys, timeline
from worker.access import grants
from worker.book import LiveBook
from worker.delivery import outbox
from worker.offers import store
from worker.queue import deadletters
from worker.stats import counters, report

OUTCOMES = ("queued", "duplicate", "ignored", "invalid_signature", "bad_json", "too_large", "unavailable")


def overview(client: redis.Redis, book: LiveBook) -> dict[str, Any]:
    current = book.get()
    due: Any = client.zrange(keys.SCHEDULE, 0, 0, withscores=True)
    lag = max(0.0, time.time() - due[0][1]) if due else 0.0
    dead = Counter(record["endpoint"] for record in outbox.dead_records(client))  # one read for all endpoints
    endpoints = []
    for endpoint_id in sorted(current.endpoints):
        count, oldest = outbox.pending(client, endpoint_id)
        endpoints.append(
            {"id": endpoint_id, "pending": count, "oldest_seconds": round(oldest, 1), "dead": dead[endpoint_id]}
        )
    return {
        "rules": {"files": current.files, "count": len(current.rules), "rejected": book.rejected},
        "webhooks": {o: int(REGISTRY.get_sample_value("upsell_webhooks_total", {"outcome": o}) or 0) for o in OUTCOMES},
        "per_minute": rates.WEBHOOKS.recent(),
        "queues": {
            "webhooks": int(client.llen(keys.queue(keys.WEBHOOK_QUEUE))),
            "internal": int(client.llen(keys.queue(keys.INTERNAL_QUEUE))),
        },
        "schedule": {"jobs": int(client.zcard(keys.SCHEDULE)), "lag_seconds": round(lag, 1)},
        "endpoints": endpoints,
        "dead_letters": int(client.hlen(deadletters.KEY)),
    }


def rules(client: redis.Redis, days: int) -> dict[str, Any]:
    """The funnel, money and verdict per rule and variant over the window, and a daily chart each
    (from the same day hashes: one more round trip, not one report per day)."""
    until = datetime.now(UTC).date()
    since = until - timedelta(days=days - 1)
    found = report.report(client, since, until)
    dates = [(since + timedelta(days=n)).isoformat() for n in range(days)]
    with client.pipeline(transaction=False) as pipe:
        for day in dates:
            pipe.hgetall(keys.stats(day))
        hashes = pipe.execute()
    per_day = [_created_converted(counted) for counted in hashes]
    for rule in found["rules"]:
        bars = [(day, *totals.get(rule["rule_id"], (0, 0))) for day, totals in zip(dates, per_day, strict=True)]
        rule["chart"] = charts.daily_bars(bars)
    return found


def _created_converted(counted: dict[Any, Any]) -> dict[str, tuple[int, int]]:
    """One day's hash as rule id -> (created, converted), variants added up, in one pass."""
    totals: dict[str, list[int]] = {}
    for raw_field, raw_value in counted.items():
        parsed = counters.parse(raw_field, raw_value)
        if parsed is not None and parsed[2] in ("created", "converted"):
            rule_id, _, metric, value = parsed
            totals.setdefault(rule_id, [0, 0])[metric == "converted"] += value
    return {rule_id: (pair[0], pair[1]) for rule_id, pair in totals.items()}


OFFERS_SHOWN = 50  # the newest; a customer with thousands still gets a page that renders at once


def customer(client: redis.Redis, book: LiveBook, customer_id: str) -> dict[str, Any]:
    access = grants.view(book.get().access, client.get(keys.access(customer_id)), customer_id)
    newest, more = store.page(client, customer_id, 0, OFFERS_SHOWN, newest_first=True)
    offers = [offer.event_view() | {"offer_id": offer.offer_id} for offer in newest]
    return {
        "access": access,
        "offers": offers,
        "more_offers": more is not None,
        "timeline": timeline.read(client, customer_id),
    }


def window(text: str | None) -> int:
    """`?days=` as 1 to 90, 7 by default."""
    try:
        return min(90, max(1, int(text or 7)))
    except ValueError:
        return 7
