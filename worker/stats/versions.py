"""A rule's figures split by the rule set version that made its offers (`dodo-upsell stats
--by-version`, the console's rules page): when ADDON10 became ADDON15, what converted before and after."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import redis

from worker import keys
from worker.stats import counters


def split(client: redis.Redis, since: date, until: date, rule: str | None = None) -> dict[str, dict[str, Any]]:
    """rule id -> version -> {created, converted, ..., revenue: {currency: minor units}}."""
    days = (until - since).days + 1
    with client.pipeline(transaction=False) as pipe:
        for n in range(days):
            pipe.hgetall(keys.stats_versions((since + timedelta(days=n)).isoformat()))
        hashes = pipe.execute()
    out: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(lambda: {"revenue": defaultdict(int)}))
    for found in hashes:
        for raw_field, raw_value in found.items():
            parsed = counters.parse(raw_field, raw_value)
            if parsed is None or (rule is not None and parsed[0] != rule):
                continue
            rule_id, version, metric, value = parsed
            row = out[rule_id][version]
            money, _, currency = metric.partition(":")
            if money == "revenue":
                row["revenue"][currency] += value
            elif not currency:
                row[metric] = row.get(metric, 0) + value
    return {
        rule_id: {v: {**row, "revenue": dict(row["revenue"])} for v, row in by_version.items()}
        for rule_id, by_version in out.items()
    }
