"""Holdouts: a stable share of matched customers gets no offer, and their payments against the
exposed customers' say whether the rule adds revenue (seeded traffic both ways)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from tests.conftest import Stack, drained, read_events
from tests.test_offers import ADDON, COURSE, purchase
from worker.stats import lift

RULES = f"""rules:
  - id: addon
    on: payment.succeeded
    when: {{product: [{COURSE}]}}
    holdout: 50%
    variants: [{{name: a, weight: 1}}, {{name: b, weight: 1}}]
    offer: {{type: cross_sell, product: {ADDON}}}
"""


@pytest.fixture
def shop(stack: Stack) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.web()
    stack.worker()
    return stack


def bought(customer: str, amount: int = 400, product: str = COURSE) -> dict[str, Any]:
    """A purchase made now (payments before a customer's match do not count toward lift)."""
    payload = purchase(customer, amount=amount, product=product)
    payload["timestamp"] = datetime.now(UTC).isoformat()
    return payload


def seed(shop: Stack, client: redis.Redis, spend: Any) -> dict[str, list[str]]:
    """24 customers buy the course (the rule matches each); then each spends `spend(group, n)` more."""
    groups: dict[str, list[str]] = {"exposed": [], "held_out": []}
    for n in range(24):
        customer = f"cus_hold_{n}"
        group = "held_out" if lift.held_out("addon", customer, 0.5) else "exposed"
        groups[group].append(customer)
        assert shop.post(bought(customer)).json()["status"] == "queued"
    drained(client)
    for group, customers in groups.items():
        for n, customer in enumerate(customers):
            amount = spend(group, n)
            if amount:
                shop.post(bought(customer, amount, ADDON))
    drained(client)
    return groups


def lift_of(shop: Stack) -> dict[str, Any]:
    return shop.api("GET", "/api/stats", params={"since": "1d", "rule": "addon"}).json()["rules"][0]


def test_held_out_customers_get_no_offer_and_the_lift_shows_when_exposed_ones_spend_more(
    shop: Stack, client: redis.Redis
) -> None:
    groups = seed(shop, client, lambda group, n: 1000 + 37 * n if group == "exposed" else (200 if n % 3 == 0 else 0))
    assert groups["exposed"] and groups["held_out"], "both groups are populated at 50%"
    offered = {e["customer_id"] for e in read_events(client) if e["type"] == "offer.created"}
    assert offered == set(groups["exposed"]), "held-out customers get no offer, and no event says so"
    for customer in groups["held_out"]:
        assert shop.api("GET", f"/api/customers/{customer}/offers").json()["offers"] == []
    found = lift_of(shop)
    assert sum(v["held_out"] for v in found["variants"]) == len(groups["held_out"])
    assert found["lift"]["customers"] == {"exposed": len(groups["exposed"]), "held_out": len(groups["held_out"])}
    usd = found["lift"]["by_currency"]["USD"]
    assert usd["verdict"].startswith("adds ") and usd["lift_95"][0] > 0, usd


def test_no_clear_lift_when_both_groups_spend_alike(shop: Stack, client: redis.Redis) -> None:
    seed(shop, client, lambda group, n: 500 if n % 2 else 1500)
    usd = lift_of(shop)["lift"]["by_currency"]["USD"]
    assert usd["verdict"].startswith("no clear lift yet"), usd
    low, high = usd["lift_95"]
    assert low < 0 < high


def test_a_refund_takes_back_what_its_payment_added_and_repeats_count_once(shop: Stack, client: redis.Redis) -> None:
    groups = seed(shop, client, lambda group, n: 0)
    customer = groups["exposed"][0]
    paid = bought(customer, 900, ADDON)
    for _ in range(3):
        shop.post(paid)  # one payment, delivered under three webhook-ids
    drained(client)
    assert client.hget(f"upsell:lift:addon:{customer}", "total:USD") == "900"
    refund = _refund_of(paid, 400)
    shop.post(refund)
    drained(client)
    assert client.hget(f"upsell:lift:addon:{customer}", "total:USD") == "500"


def _refund_of(paid: dict[str, Any], amount: int) -> dict[str, Any]:
    import copy

    from tests.conftest import fixture

    refund = copy.deepcopy(fixture("refund.succeeded"))
    refund["data"].update(
        payment_id=paid["data"]["payment_id"],
        amount=amount,
        is_partial=True,
        refund_id=f"ref_{paid['data']['payment_id']}",
    )
    refund["data"]["customer"]["customer_id"] = paid["data"]["customer"]["customer_id"]
    refund["timestamp"] = datetime.now(UTC).isoformat()
    return refund


def test_backtest_shows_the_share_a_draft_would_hold_out(shop: Stack, client: redis.Redis) -> None:
    from tests.test_backtest import backtest, run_backtest

    groups = seed(shop, client, lambda group, n: 0)
    found = {r["rule_id"]: r for r in backtest(shop, shop.rules_dir)["rules"]}["addon"]
    assert (found["would_create"], found["held_out"]) == (len(groups["exposed"]), len(groups["held_out"]))
    printed = run_backtest(shop, shop.rules_dir).stdout
    share = len(groups["held_out"]) / 24
    assert f"would hold out {len(groups['held_out'])} ({share:.0%} of those matched)" in printed
