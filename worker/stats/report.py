"""Per rule and variant over a window of days: what the counters say, net of refunds, and whether
any variant's conversion is ahead by more than chance (95% Wilson intervals)."""

from __future__ import annotations

import json
import math
import re
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from worker import keys
from worker.stats import counters, lift

MAX_DAYS = 400
Z95 = 1.959964


MAX_DAYS_BACK = 36_500


def parse_moment(text: str, now: float | None = None) -> date:
    """`7d` (days back from today, at most 36500d), or an ISO 8601 date or date-time; the UTC day it
    falls on."""
    now = now or time.time()
    relative = re.fullmatch(r"([0-9]{1,12})d", text.strip())
    if relative:
        if int(relative[1]) > MAX_DAYS_BACK:
            raise ValueError(f"{text[:40]!r}: at most {MAX_DAYS_BACK}d back")
        return (datetime.fromtimestamp(now, UTC) - timedelta(days=int(relative[1]))).date()
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text[:40]!r}: use 7d (days back) or an ISO 8601 date such as 2026-11-01") from None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """95% interval for a conversion rate: wide for a handful of offers, narrow for thousands."""
    if trials == 0:
        return 0.0, 1.0
    p = min(successes, trials) / trials  # a window can hold conversions of offers made before it
    centre = p + Z95**2 / (2 * trials)
    spread = Z95 * math.sqrt(p * (1 - p) / trials + Z95**2 / (4 * trials**2))
    return max(0.0, (centre - spread) / (1 + Z95**2 / trials)), min(1.0, (centre + spread) / (1 + Z95**2 / trials))


def report(client: redis.Redis, since: date, until: date, rule: str | None = None) -> dict[str, Any]:
    """Reads one hash per day in [since, until]: constant time in the number of offers."""
    days = (until - since).days + 1
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"the window must cover 1 to {MAX_DAYS} days (since {since}, until {until})")
    with client.pipeline(transaction=False) as pipe:
        for n in range(days):
            pipe.hgetall(keys.stats((since + timedelta(days=n)).isoformat()))
        pipe.hgetall(keys.variant_terms())
        *hashes, offered = pipe.execute()
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            **dict.fromkeys(counters.COUNTS + counters.GUARDRAILS, 0),
            "revenue": defaultdict(int),
            "refunded": defaultdict(int),
        }
    )
    unreadable = 0
    for found in hashes:
        for raw_field, raw_value in found.items():
            parsed = counters.parse(raw_field, raw_value)
            if parsed is None:
                unreadable += 1
                continue
            rule_id, variant, metric, value = parsed
            if rule is not None and rule_id != rule:
                continue
            row = rows[(rule_id, variant)]
            money, _, currency = metric.partition(":")
            if currency:
                row[money][currency] += value
            else:
                row[metric] += value
    by_rule = _by_rule(rows, _terms(offered))
    lifts = lift.summaries(client, [found["rule_id"] for found in by_rule])  # one hash per rule, one round trip
    for found in by_rule:
        found["lift"] = lifts[found["rule_id"]]
    window = {"since": since.isoformat(), "until": until.isoformat()}
    return window | {"rules": by_rule, "unreadable_fields": unreadable}


def _terms(stored: dict[Any, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(rule id, variant identity) -> the terms it offered; a field no report can read is left out."""
    found = {}
    for raw_field, raw_value in stored.items():
        try:
            rule_id, variant = (raw_field.decode() if isinstance(raw_field, bytes) else raw_field).split(counters.SEP)
            found[(rule_id, variant)] = json.loads(raw_value)
        except ValueError:
            continue
    return found


def _by_rule(
    rows: dict[tuple[str, str], dict[str, Any]], terms: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """One entry per rule; one per variant identity in it (name@terms hash: an edited discount is a
    new one), with its name and terms beside its figures."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (rule_id, variant), row in sorted(rows.items()):
        low, high = wilson(row["converted"], row["created"])
        revenue, refunded = dict(row["revenue"]), dict(row["refunded"])
        net = {c: revenue.get(c, 0) - refunded.get(c, 0) for c in sorted(set(revenue) | set(refunded))}
        conversion = row["converted"] / row["created"] if row["created"] else None
        figures = {k: row[k] for k in counters.COUNTS}
        out[rule_id].append(
            {"variant": variant.partition("@")[0], "variant_id": variant, "terms": terms.get((rule_id, variant))}
            | {**figures, "revenue": revenue, "refunded": refunded, "net": net}
            | {"conversion": conversion, "conversion_95": [round(low, 4), round(high, 4)]}
            | {"guardrails": {name: _rate(row[name], row["converted"]) for name in counters.GUARDRAILS}}
        )
    return [
        {"rule_id": rule_id, "variants": variants, "verdict": _verdict(variants), "flags": _flags(variants)}
        for rule_id, variants in out.items()
    ]


def _rate(count: int, converted: int) -> dict[str, Any]:
    """Of the converted offers, how many came back this way, with a 95% interval."""
    low, high = wilson(count, converted)
    rate = count / converted if converted else None
    return {"count": count, "rate": rate, "rate_95": [round(low, 4), round(high, 4)]}


GUARDRAIL_NAMES = {"refunds": "refund rate", "disputed": "dispute rate", "cancelled_early": "cancelled within 30 d"}


def _flags(variants: list[dict[str, Any]]) -> list[str]:
    """A variant whose guardrail rate is worse than every other variant's beyond both intervals."""
    flags = []
    for name, said in GUARDRAIL_NAMES.items():
        for v in variants:
            others = [o for o in variants if o is not v and o["converted"]]
            rate = v["guardrails"][name]
            if (
                others
                and v["converted"]
                and all(rate["rate_95"][0] > o["guardrails"][name]["rate_95"][1] for o in others)
            ):
                flags.append(f"{v['variant_id']}: {said} {rate['rate']:.0%} is worse than the other variants'")
    return flags


def _verdict(variants: list[dict[str, Any]]) -> str:
    """A variant wins only when its whole interval is above every other's: small samples never do."""
    if len(variants) < 2:
        return "one variant"
    best = max(variants, key=lambda v: v["conversion_95"][0])
    if all(best["conversion_95"][0] > v["conversion_95"][1] for v in variants if v is not best):
        return f"{best['variant_id']} converts best (95% intervals do not overlap)"
    return "no clear winner yet: the 95% intervals overlap"


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['since']} .. {result['until']}"]
    columns = f"{'rule':24} {'variant':18} {'created':>7} {'conv':>5} {'rate':>6} {'95% interval':>13}"
    lines.append(columns + "  revenue / refunded / net")
    for rule in result["rules"]:
        for v in rule["variants"]:
            rate = f"{v['conversion']:.1%}" if v["conversion"] is not None else "-"
            low, high = v["conversion_95"]
            money = ", ".join(
                f"{c} {v['revenue'].get(c, 0) / 100:.2f} / {v['refunded'].get(c, 0) / 100:.2f} / {n / 100:.2f}"
                for c, n in v["net"].items()
            )
            shadow = f" (shadow: would create {v['would_create']})" if v["would_create"] else ""
            lines.append(
                f"{rule['rule_id']:24} {v['variant_id']:18} {v['created']:>7} {v['converted']:>5} {rate:>6} "
                f"{low:>6.1%}-{high:<6.1%}  {money or '-'}{shadow}"
            )
            if v["terms"]:
                lines.append(f"{'':24}   terms: {', '.join(f'{k} {t}' for k, t in sorted(v['terms'].items()))}")
        lines.append(f"{'':24} {rule['verdict']}")
        lines += [f"{'':24} guardrail: {flag}" for flag in rule["flags"]]
        lines += _lift_lines(rule.get("lift"))
    if result.get("unreadable_fields"):
        lines.append(f"{result['unreadable_fields']} stored counter(s) could not be read and were left out")
    return "\n".join(lines)


def _lift_lines(found: dict[str, Any] | None) -> list[str]:
    if not found:
        return []
    n = found["customers"]
    head = f"{'':24} lift: {n['exposed']} customers exposed, {n['held_out']} held out"
    return [head] + [f"{'':24}   {c}: {v['verdict']}" for c, v in found["by_currency"].items()]
