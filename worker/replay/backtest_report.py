"""What a backtest prints: per rule and variant, the offers the draft would have made next to what
the live rules made, as JSON (`--json`) or a table."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from worker import events


def report(replay: Any, live: Counter[tuple[str, str]], since: float, until: float, seconds: float) -> dict[str, Any]:
    drafted = {rule.id: rule for rule in replay.book.rules}
    predicted: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for offer in replay.offers.values():
        shown = offer.model_dump(
            include={"offer_id", "rule_id", "variant", "variant_id", "customer_id", "type", "product_id", "source"}
            | {"quantity", "discount_code", "discount_unavailable", "display"}
        )
        predicted[offer.rule_id].append(shown | {"at": offer.created_at})
    rule_ids = list(drafted) + sorted({rule for rule, _ in live} - set(drafted))
    rows = []
    for rule_id in rule_ids:
        offers = predicted.get(rule_id, [])
        variants = sorted({o["variant"] for o in offers} | {v for r, v in live if r == rule_id})
        rule = drafted.get(rule_id)
        rows.append(
            {
                "rule_id": rule_id,
                "in_draft": rule is not None,
                "mode": rule.mode if rule is not None else None,
                "would_create": len(offers),
                "live_created": sum(n for (r, _), n in live.items() if r == rule_id),
                "would_notify": replay.notified.get(rule_id, 0),
                "held_out": replay.held_out.get(rule_id, 0),
                "discount_unavailable": replay.no_discount.get(rule_id, 0),
                "variants": [
                    {
                        "variant": v,
                        "would_create": sum(1 for o in offers if o["variant"] == v),
                        "live_created": live.get((rule_id, v), 0),
                    }
                    for v in variants
                ],
                "offers": sorted(offers, key=lambda o: (o["at"], o["offer_id"])),
            }
        )

    def iso(moment: float) -> str:
        return events.iso(datetime.fromtimestamp(int(moment), UTC))

    replayed = replay.counts["replayed"] + replay.counts["before_window"]
    return {
        "since": iso(since),
        "until": iso(until),
        "events": {
            "in_window": replay.counts["replayed"],
            "before_window": replay.counts["before_window"],
            "skipped": replay.counts["skipped"],
        },
        "events_per_second": round(replayed / seconds) if seconds > 0 else None,
        "prices": "from Dodo" if replay.api is not None else "not checked: DODO_PAYMENTS_API_KEY is not set",
        "rules": rows,
    }


def table(result: dict[str, Any], directory: str) -> str:
    counted = result["events"]
    lines = [
        f"backtest of {directory} over {result['since']} .. {result['until']}",
        f"{counted['in_window']} events replayed through the rules; {counted['before_window']} earlier ones"
        f" rebuilt access; {counted['skipped']} skipped (a payment never seen, or a body the worker rejects too)",
    ]
    lines.append(f"prices and discount codes: {result['prices']}")
    if result["archive_from"] is None:  # said before the table, never inside it
        lines.append("the archive (upsell:inbound) is empty: nothing arrived yet, or UPSELL_INBOUND_RETENTION is 0")
    elif result["archive_from"] > result["since"]:
        lines.append(
            f"the archive starts at {result['archive_from']}: nothing before it is known (UPSELL_INBOUND_RETENTION)"
        )
    lines.append(f"{'rule':24} {'mode':7} {'variant':12} {'would create':>13} {'live created':>13}")
    for rule in result["rules"]:
        mode = rule["mode"] or "-"
        note = "" if rule["in_draft"] else "  (not in this folder)"
        for n, v in enumerate(rule["variants"] or [{"variant": "-", "would_create": 0, "live_created": 0}]):
            name, shown_mode = (rule["rule_id"], mode) if n == 0 else ("", "")
            lines.append(
                f"{name:24} {shown_mode:7} {v['variant']:12} {v['would_create']:>12} {v['live_created']:>12}{note}"
            )
        if rule["held_out"]:
            share = rule["held_out"] / (rule["held_out"] + rule["would_create"])
            lines.append(f"{'':24} {'':7} would hold out {rule['held_out']} ({share:.0%} of those matched)")
        if rule["would_notify"]:
            plural = "" if rule["would_notify"] == 1 else "s"
            lines.append(f"{'':24} {'':7} would emit {rule['would_notify']} notification{plural}")
    return "\n".join(lines)
