"""What each console page shows, read from Redis and the rules in force: plain dicts for templates.
Card data, e-mail and postal addresses never reach a page: offers are shown as their events show
them, dead letters without their bodies."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from prometheus_client import REGISTRY

from receiver.console import charts
from worker import keys, timeline
from worker.access import grants
from worker.book import LiveBook
from worker.delivery import outbox
from worker.offers import store
from worker.queue import deadletters
from worker.stats import report

OUTCOMES = ("queued", "duplicate", "ignored", "invalid_signature", "bad_json", "too_large", "unavailable")


def overview(client: redis.Redis, book: LiveBook) -> dict[str, Any]:
    current = book.get()
    due: Any = client.zrange(keys.SCHEDULE, 0, 0, withscores=True)
    lag = max(0.0, time.time() - due[0][1]) if due else 0.0
    endpoints = []
    for endpoint_id in sorted(current.endpoints):
        count, oldest = outbox.pending(client, endpoint_id)
        dead = len(outbox.dead_records(client, endpoint_id))
        endpoints.append({"id": endpoint_id, "pending": count, "oldest_seconds": round(oldest, 1), "dead": dead})
    return {
        "rules": {"files": current.files, "count": len(current.rules), "rejected": book.rejected},
        "webhooks": {o: int(REGISTRY.get_sample_value("upsell_webhooks_total", {"outcome": o}) or 0) for o in OUTCOMES},
        "queues": {q: int(client.llen(keys.queue(q))) for q in (keys.WEBHOOK_QUEUE, keys.INTERNAL_QUEUE)},
        "schedule": {"jobs": int(client.zcard(keys.SCHEDULE)), "lag_seconds": round(lag, 1)},
        "endpoints": endpoints,
        "dead_letters": int(client.hlen(deadletters.KEY)),
    }


def rules(client: redis.Redis, days: int) -> dict[str, Any]:
    """The funnel, money and verdict per rule and variant over the window, and a daily chart each."""
    until = datetime.now(UTC).date()
    since = until - timedelta(days=days - 1)
    found = report.report(client, since, until)
    daily: dict[str, list[tuple[str, int, int]]] = {r["rule_id"]: [] for r in found["rules"]}
    for n in range(days):
        day = since + timedelta(days=n)
        one = {r["rule_id"]: r for r in report.report(client, day, day)["rules"]}
        for rule_id, bars in daily.items():
            variants = one[rule_id]["variants"] if rule_id in one else []
            bars.append((day.isoformat(), sum(v["created"] for v in variants), sum(v["converted"] for v in variants)))
    for rule in found["rules"]:
        rule["chart"] = charts.daily_bars(daily[rule["rule_id"]])
    return found


def customer(client: redis.Redis, book: LiveBook, customer_id: str) -> dict[str, Any]:
    access = grants.view(book.get().access, client.get(keys.access(customer_id)), customer_id)
    offers = [offer.event_view() | {"offer_id": offer.offer_id} for offer in store.for_customer(client, customer_id)]
    return {"access": access, "offers": offers, "timeline": timeline.read(client, customer_id)}


def window(text: str | None) -> int:
    """`?days=` as 1 to 90, 7 by default."""
    try:
        return min(90, max(1, int(text or 7)))
    except ValueError:
        return 7
