"""The console's view of the rule set in force: every rule in evaluation order (by trigger, then
priority, then file order) with its terms and source `file:line`, its figures for the window beside
it (zero where it made no offer), and the reload state (the set in force, the last rejected edit)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from worker.book import LiveBook
from worker.rules.model import Rule


def _when(rule: Rule) -> list[str]:
    """The conditions as the operator wrote them, one short line each."""
    shown = rule.when.model_dump(exclude_none=True)
    return [f"{key}: {_plain(value)}" for key, value in shown.items()]


def _plain(value: Any) -> str:
    """`a, b` for a list, `k: v; k2: v2` for a map: how the YAML reads, not Python's repr."""
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)


def _offer(rule: Rule) -> str:
    if rule.offer is None:
        return f"notify {rule.notify}"
    offer = rule.offer
    parts = [offer.type, offer.product, f"× {offer.quantity}" if offer.quantity != 1 else ""]
    parts += [f"code {offer.discount_code}" if offer.discount_code else "", offer.proration or ""]
    return " ".join(part for part in parts if part)


def _variants(rule: Rule) -> list[str]:
    total = sum(v.weight for v in rule.variants or []) or 1
    return [
        f"{v.name or f'#{n + 1}'}: {v.weight / total:.0%}"
        + (f" ({', '.join(f'{k} {x}' for k, x in v.offer.items())})" if v.offer else "")
        for n, v in enumerate(rule.variants or [])
    ]


def _limits(rule: Rule) -> list[str]:
    shown = []
    if rule.limit.once_per_customer:
        shown.append("once per customer")
    if rule.limit.cooldown_after_decline:
        shown.append(f"cooldown after decline {_span(rule.limit.cooldown_after_decline)}")
    return shown + (["stops later rules"] if rule.stop else [])


def _schedule(rule: Rule) -> list[str]:
    shown = [f"after {_span(rule.delay)}"] if rule.delay else []
    return shown + ([f"expires in {_span(rule.expires_in)}"] if rule.expires_in else [])


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _figures(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per rule: created, converted, conversion and net revenue by currency over the window."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"created": 0, "converted": 0, "net": defaultdict(int)})
    for found in report["rules"]:
        row = out[found["rule_id"]]
        for variant in found["variants"]:
            row["created"] += variant["created"]
            row["converted"] += variant["converted"]
            for currency, amount in variant["net"].items():
                row["net"][currency] += amount
    return out


def view(book: LiveBook, report: dict[str, Any], split: dict[str, dict[str, Any]]) -> dict[str, Any]:
    current = book.get()
    figures = _figures(report)
    order = {rule.id: n for n, rule in enumerate(current.rules)}
    rules = sorted(current.rules, key=lambda r: (r.on, -r.priority, order[r.id]))
    rows = []
    for rule in rules:
        counted = figures.get(rule.id, {"created": 0, "converted": 0, "net": {}})
        rows.append(
            {
                "id": rule.id,
                "source": rule.source,
                "on": rule.on,
                "priority": rule.priority,
                "shadow": rule.mode == "shadow",
                "when": _when(rule),
                "offer": _offer(rule),
                "variants": _variants(rule),
                "holdout": f"{rule.holdout:.0%}" if rule.holdout else "",
                "limits": _limits(rule),
                "schedule": _schedule(rule),
                "created": counted["created"],
                "converted": counted["converted"],
                "conversion": counted["converted"] / counted["created"] if counted["created"] else None,
                "net": dict(counted["net"]),
                "versions": [
                    {"version": version, "created": row.get("created", 0), "converted": row.get("converted", 0)}
                    for version, row in split.get(rule.id, {}).items()
                ],
            }
        )
    state = {"files": current.files, "rejected": book.rejected, "loaded_at": book.loaded_at, "version": book.version}
    return {"rules": rows} | state
