"""Rules through the real pipeline: a signed webhook in, the expected offer (or none) on the stream."""

from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import Stack, drained, fixture, read_events, wait_until
from worker import keys

BASIC, PRO, COURSE, ADDON = (
    "pdt_RUST4raxbl0Rfe4VQi1z",
    "pdt_PRO0planUpgrade9xQ",
    "pdt_e9mUw084cWnu0tz",
    "pdt_ADDON0priority7Kq",
)
CUSTOMER = "cus_8VbC6JDZzPEqfBPUdpj0K"


def rules_file(rules_dir: Path, text: str) -> None:
    (rules_dir / "upsell.yaml").write_text(text)


def offer_rule(
    rule_id: str = "r",
    on: str = "payment.succeeded",
    when: str = "{}",
    extra: str = "",
    product: str = ADDON,
    kind: str = "one_click",
) -> str:
    return f"""  - id: {rule_id}
    on: {on}
    when: {when}
    offer: {{type: {kind}, product: {product}}}
{extra}"""


def start(stack: Stack, *rules: str) -> Stack:
    rules_file(stack.rules_dir, "rules:\n" + "".join(rules))
    stack.web()
    stack.worker()
    return stack


def purchase(
    customer: str = CUSTOMER, amount: int = 400, currency: str = "USD", product: str = COURSE, **metadata: str
) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("payment.succeeded"))
    data = payload["data"]
    data["customer"]["customer_id"] = customer
    data["total_amount"], data["currency"] = amount, currency
    data["product_cart"] = [{"product_id": product, "quantity": 1}]
    data["metadata"] = metadata or data["metadata"]
    data["payment_id"] = f"pay_{time.monotonic_ns()}"
    return payload


def offers_of(client: redis.Redis, event_type: str = "offer.created") -> list[dict[str, Any]]:
    return [e["data"] for e in read_events(client) if e["type"] == event_type]


def deliver(stack: Stack, client: redis.Redis, *payloads: dict[str, Any], webhook_id: str | None = None) -> None:
    for payload in payloads:
        before = len(client.keys(keys.processed("*")))
        assert stack.post(payload, webhook_id=webhook_id).json()["status"] == "queued"
        wait_until(lambda: len(client.keys(keys.processed("*"))) > before, what="processed")
    drained(client, within=0)


CONDITIONS = [
    ("product", f"{{product: [{COURSE}]}}", {}, {"product": BASIC}),
    ("currency", "{currency: [USD, EUR]}", {}, {"currency": "INR"}),
    ("min_amount", "{min_amount: 1000}", {"amount": 1000}, {"amount": 999}),
    ("max_amount", "{max_amount: 500}", {"amount": 500}, {"amount": 501}),
    (
        "metadata",
        "{metadata: {upsell_source: [post_purchase, email]}}",
        {"upsell_source": "email"},
        {"upsell_source": "ads"},
    ),
]


@pytest.mark.parametrize(("key", "when", "matching", "other"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_when_conditions(
    stack: Stack, client: redis.Redis, key: str, when: str, matching: dict[str, Any], other: dict[str, Any]
) -> None:
    start(stack, offer_rule(when=when))
    deliver(stack, client, purchase(customer="cus_other", **other))
    assert offers_of(client) == []
    deliver(stack, client, purchase(**matching))
    (offer,) = offers_of(client)
    assert (offer["rule_id"], offer["product_id"], offer["state"], offer["customer_id"]) == (
        "r",
        ADDON,
        "pending",
        CUSTOMER,
    )
    assert stack.api("GET", f"/api/offers/{offer['offer_id']}").json()["offer_id"] == offer["offer_id"]


def test_has_and_lacks_use_current_access(stack: Stack, client: redis.Redis) -> None:
    start(
        stack,
        offer_rule(
            "upsell-basic", on="subscription.active", when="{has: [basic], lacks: [pro]}", product=PRO, kind="upgrade"
        ),
    )
    deliver(stack, client, fixture("subscription.active"))
    (offer,) = offers_of(client)
    assert (
        offer["type"] == "upgrade"
        and offer["proration"] == "prorated_immediately"
        and offer["subscription_id"] == "sub_7EeHq2ewQuadropD2ra"
    )
    pro = copy.deepcopy(fixture("subscription.active"))
    pro["data"].update(
        product_id=PRO, subscription_id="sub_pro", customer={**pro["data"]["customer"], "customer_id": "cus_pro"}
    )
    deliver(stack, client, pro)
    assert len(offers_of(client)) == 1


def test_priority_and_stop(stack: Stack, client: redis.Redis) -> None:
    start(
        stack,
        offer_rule("low", extra="    priority: 1\n"),
        offer_rule("high", extra="    priority: 5\n    stop: true\n", product=BASIC),
        offer_rule("never", extra="    priority: 3\n", product=PRO),
    )
    deliver(stack, client, purchase())
    assert [o["rule_id"] for o in offers_of(client)] == ["high"]


def test_once_per_customer_holds_under_concurrent_events(stack: Stack, client: redis.Redis) -> None:
    start(stack, offer_rule(extra="    limit: {once_per_customer: true}\n"))
    stack.worker(threads=8)
    with ThreadPoolExecutor(10) as pool:
        assert set(pool.map(lambda _: stack.post(purchase()).json()["status"], range(10))) == {"queued"}
    wait_until(lambda: len(client.keys(keys.processed("*"))) == 10, what="all processed")
    assert len(offers_of(client)) == 1
    deliver(stack, client, purchase(customer="cus_second"))
    assert len(offers_of(client)) == 2


def test_decline_cooldown_and_downsell(stack: Stack, client: redis.Redis) -> None:
    start(
        stack,
        offer_rule("addon", extra="    limit: {cooldown_after_decline: 1h}\n"),
        offer_rule("downsell", on="offer.declined", when="{offer_rule: addon}", product=BASIC, kind="cross_sell"),
    )
    deliver(stack, client, purchase())
    (offer,) = offers_of(client)
    declined = stack.api("POST", f"/api/offers/{offer['offer_id']}/decline")
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    again = stack.api("POST", f"/api/offers/{offer['offer_id']}/decline")
    assert again.status_code == 409 and "declined" in again.json()["error"]
    assert stack.api("POST", "/api/offers/off_nope/decline").status_code == 404
    settled = client.ttl(keys.offer(offer["offer_id"]))
    assert 399 * 86400 < settled <= 400 * 86400, "a settled offer is kept as long as its figures, then goes"
    wait_until(lambda: len(offers_of(client)) == 2, what="downsell offer")
    downsell = offers_of(client)[1]
    assert (downsell["rule_id"], downsell["type"], downsell["source"]) == ("downsell", "cross_sell", offer["offer_id"])
    assert [e["data"]["offer_id"] for e in read_events(client) if e["type"] == "offer.declined"] == [offer["offer_id"]]
    deliver(stack, client, purchase())
    assert len(offers_of(client)) == 2, "cooldown after decline must hold"
    listed = stack.api("GET", f"/api/customers/{CUSTOMER}/offers").json()["offers"]
    assert {o["rule_id"]: o["state"] for o in listed} == {"addon": "declined", "downsell": "pending"}


def test_delayed_follow_up_fires_and_skips_when_offer_moved_on(stack: Stack, client: redis.Redis) -> None:
    start(
        stack,
        offer_rule("addon"),
        "  - id: remind\n    on: offer.created\n    when: {offer_rule: addon}\n    delay: 2s\n    notify: offer.reminder\n",
    )
    deliver(stack, client, purchase(customer="cus_waits"))
    (waiting,) = offers_of(client)
    assert offers_of(client, "offer.reminder") == []
    reminded = wait_until(lambda: offers_of(client, "offer.reminder"), 10, what="reminder")
    assert reminded[0]["offer_id"] == waiting["offer_id"] and reminded[0]["state"] == "pending"
    (entry,) = [e for e in read_events(client) if e["type"] == "offer.reminder"]
    created_at = next(e for e in read_events(client) if e["type"] == "offer.created")["occurred_at"]
    assert entry["source"] == waiting["offer_id"] and entry["occurred_at"] > created_at

    deliver(stack, client, purchase(customer="cus_declines"))
    declining = offers_of(client)[1]
    assert stack.api("POST", f"/api/offers/{declining['offer_id']}/decline").status_code == 200
    drained(client)
    assert [r["offer_id"] for r in offers_of(client, "offer.reminder")] == [waiting["offer_id"]]
    assert client.zcard(keys.SCHEDULE) == 0


def test_delayed_rule_rechecks_when(stack: Stack, client: redis.Redis) -> None:
    start(
        stack,
        offer_rule(
            "later",
            on="subscription.active",
            when="{lacks: [pro]}",
            product=PRO,
            kind="upgrade",
            extra="    delay: 2s\n",
        ),
    )
    deliver(stack, client, fixture("subscription.active"))
    assert client.zcard(keys.SCHEDULE) == 1
    deliver(stack, client, fixture("subscription.plan_changed"))  # customer is pro now
    drained(client)
    assert offers_of(client) == [] and client.zcard(keys.SCHEDULE) == 0


def test_offers_expire_on_time(stack: Stack, client: redis.Redis) -> None:
    start(stack, offer_rule(extra="    expires_in: 2s\n"))
    deliver(stack, client, purchase())
    (offer,) = offers_of(client)
    assert offer["expires_at"]
    (expired,) = wait_until(lambda: offers_of(client, "offer.expired"), 10, what="expiry")
    assert expired["offer_id"] == offer["offer_id"] and expired["state"] == "expired"
    assert stack.api("POST", f"/api/offers/{offer['offer_id']}/decline").status_code == 409


def test_variant_is_recorded_on_offer_and_event(stack: Stack, client: redis.Redis) -> None:
    start(
        stack,
        offer_rule(
            extra="    variants:\n      - {name: plain, weight: 1}\n      - {name: promo, weight: 1, offer: {discount_code: TEN}}\n"
        ),
    )
    deliver(stack, client, *[purchase(customer=f"cus_v{n}") for n in range(8)])
    offers = offers_of(client)
    assert {o["variant"] for o in offers} == {"plain", "promo"}
    assert all((o["discount_code"] == "TEN") == (o["variant"] == "promo") for o in offers)


def test_redelivered_webhook_creates_no_second_offer(stack: Stack, client: redis.Redis) -> None:
    start(stack, offer_rule())
    payload = purchase()
    deliver(stack, client, payload, webhook_id="msg_again")
    client.delete(keys.seen("msg_again"), keys.processed("msg_again"))  # as if Dramatiq ran it again
    deliver(stack, client, payload, webhook_id="msg_again")
    assert len(offers_of(client)) == 1


def test_hot_reload_and_broken_edit(stack: Stack, client: redis.Redis) -> None:
    start(stack, offer_rule("first"))
    deliver(stack, client, purchase(customer="cus_1"))
    rules_file(stack.rules_dir, "rules:\n" + offer_rule("second", product=BASIC))
    wait_until(lambda: "rules_reloaded" in stack.procs[-1].output(), what="reload")
    deliver(stack, client, purchase(customer="cus_2"))
    assert [o["rule_id"] for o in offers_of(client)] == ["first", "second"]
    rules_file(stack.rules_dir, "rules:\n  - id: broken\n    on: nowhere\n")
    wait_until(lambda: "rules_reload_rejected" in stack.procs[-1].output(), what="rejected reload")
    deliver(stack, client, purchase(customer="cus_3"))
    assert [o["rule_id"] for o in offers_of(client)] == ["first", "second", "second"]
    assert "rules_reload_rejected" in "".join(p.output() for p in stack.procs)
