"""Rules: evaluation time per event with 10, 1,000 and 10,000 rules, nearly all for other products.

    .venv/bin/python -m bench.rules

Pure evaluation (index lookup and `when` checks against the event and the customer's access), no
Redis: the part that grows with the rule files. Ratio 10,000 / 10 shows whether cost follows the
number of rules or only the rules that concern the event.
"""

from __future__ import annotations

import time

from worker import catalog
from worker.access.config import AccessConfig
from worker.rules.match import Facts, Index, evaluate
from worker.rules.model import Rule

TRIGGERS = tuple(catalog.BY_TYPE)


def rule_set(count: int) -> list[Rule]:
    """Five rules concern the benchmark event's product; the rest name other products and triggers."""
    rules = [
        Rule.model_validate(
            {
                "id": f"hit-{n}",
                "on": "payment.succeeded",
                "when": {"product": ["pdt_bought"], "lacks": ["pro"], "min_amount": 100 * n},
                "offer": {"type": "one_click", "product": "pdt_addon"},
                "priority": n,
            }
        )
        for n in range(5)
    ]
    rules += [
        Rule.model_validate(
            {
                "id": f"miss-{n}",
                "on": TRIGGERS[n % 4],
                "when": {"product": [f"pdt_other_{n}"], "currency": ["USD"]},
                "offer": {"type": "cross_sell", "product": "pdt_addon"},
            }
        )
        for n in range(count - 5)
    ]
    return rules


def per_event_us(count: int, events: int = 20_000) -> float:
    config = AccessConfig.model_validate({"tiers": ["basic", "pro"], "products": {}})
    index = Index(rule_set(count))
    facts = Facts("payment.succeeded", "cus_1", ("pdt_bought",), "USD", 400, {"upsell_source": "post_purchase"})
    started = time.perf_counter()
    for _ in range(events):
        evaluate(index.candidates(facts), facts, config, "basic", ["reports"])
    return (time.perf_counter() - started) / events * 1e6


def main() -> None:
    results = {count: min(per_event_us(count) for _ in range(3)) for count in (10, 1_000, 10_000)}
    for count, micros in results.items():
        print(f"{count:6} rules: {micros:7.2f} us per event")
    print(f"ratio 10,000 / 10: {results[10_000] / results[10]:.2f}")


if __name__ == "__main__":
    main()
