"""What a rule adds: customers it matched are split by a stable hash into exposed and held out
(`holdout: 10%`), and their payments, net of refunds, for `lift_window` after the match are summed
per group and currency. The lift is the difference of the means, with a 95% interval (Welch).
Counters only: a report reads one hash per rule, whatever the traffic."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

import redis

from worker import keys, redis_scripts
from worker.stats import counters

GROUPS = ("exposed", "held_out")
COUNTED_TTL = 400 * keys.DAY  # longer than any lift window


def held_out(rule_id: str, customer_id: str, share: float) -> bool:
    """Stable per rule and customer, and independent of the variant's hash (another salt)."""
    digest = hashlib.sha256(f"holdout\x1f{rule_id}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def record(client: Any, rule_id: str, variant: str, customer_id: str, group: str, window: int) -> bool:
    """The customer's group for the rule, once per window; a held-out one counts in the day's stats."""
    field = counters.SEP.join((rule_id, variant, "held_out")) if group == "held_out" else ""
    script_keys = [
        keys.lift(rule_id, customer_id),
        keys.lift_stats(rule_id),
        keys.lift_rules(customer_id),
        keys.stats(counters.day()),
        field,
    ]
    args = [group, time.time(), window, rule_id, counters.KEEP_SECONDS]
    return bool(redis_scripts.run(client, "lift_record", script_keys, args))


def payment(
    client: redis.Redis,
    customer_id: str,
    counted_id: str,
    amount: int,
    currency: str,
    at: float,
    refunds: str | None = None,
) -> int:
    """A payment (or a refund, negative, of the payment `refunds`) counted for each rule whose window
    holds it; returns for how many rules it counted."""
    rules: Any = client.smembers(keys.lift_rules(customer_id))
    counted = 0
    for raw in rules:
        rule_id = raw.decode() if isinstance(raw, bytes) else raw
        refunded = keys.lift_counted(refunds, rule_id) if refunds else ""
        mark = keys.lift_counted(counted_id, rule_id)
        script_keys = [keys.lift(rule_id, customer_id), keys.lift_stats(rule_id), mark, refunded]
        args = [amount, currency.upper(), at, COUNTED_TTL]
        counted += int(redis_scripts.run(client, "lift_payment", script_keys, args))
    return counted


def summaries(client: redis.Redis, rule_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """Each rule's summary, its hash read in one round trip for all of them."""
    with client.pipeline(transaction=False) as pipe:
        for rule_id in rule_ids:
            pipe.hgetall(keys.lift_stats(rule_id))
        raws = pipe.execute()
    return {rule_id: _summary(raw) for rule_id, raw in zip(rule_ids, raws, strict=True)}


def _summary(raw: dict[Any, Any]) -> dict[str, Any] | None:
    """Per currency: each group's customers and mean revenue, the difference, its interval, a verdict."""
    found = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}
    if not found:
        return None
    n = {g: int(found.get(f"n:{g}", 0)) for g in GROUPS}
    currencies = sorted({k.rsplit(":", 1)[1] for k in found if k.startswith("sum:")})
    return {"customers": n, "by_currency": {c: _lift(found, n, c) for c in currencies}}


def _lift(found: dict[str, float], n: dict[str, int], currency: str) -> dict[str, Any]:
    totals = {g: found.get(f"sum:{g}:{currency}", 0.0) for g in GROUPS}
    means = {g: totals[g] / n[g] for g in GROUPS if n[g]}
    out: dict[str, Any] = {"mean_exposed": means.get("exposed"), "mean_held_out": means.get("held_out")}
    if min(n.values()) < 2:
        return out | {"lift": None, "lift_95": None, "verdict": "no clear lift yet: too few customers in a group"}
    spread_sq = 0.0
    for g in GROUPS:
        squares = found.get(f"sq:{g}:{currency}", 0.0)
        variance = max(0.0, (squares - totals[g] * totals[g] / n[g]) / (n[g] - 1))
        spread_sq += variance / n[g]
    lift = means["exposed"] - means["held_out"]
    low, high = lift - 1.96 * math.sqrt(spread_sq), lift + 1.96 * math.sqrt(spread_sq)
    out |= {"lift": round(lift, 2), "lift_95": [round(low, 2), round(high, 2)]}
    per = f"{currency} per customer ({low / 100:.2f} to {high / 100:.2f})"
    if low > 0:
        return out | {"verdict": f"adds {lift / 100:.2f} {per}"}
    if high < 0:
        return out | {"verdict": f"takes {-lift / 100:.2f} {per}"}
    return out | {"verdict": f"no clear lift yet: {lift / 100:.2f} {per}"}
