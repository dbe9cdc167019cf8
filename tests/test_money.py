"""Money, second round, against the emulator in its failing modes, asserting on the requests Dodo
recorded: never charge what the customer owns, never on another customer's subscription, never a
second way to pay while the first may have worked, add-ons kept, quotes as charged, figures that add up."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
import redis

from tests.conftest import HTTP, TOKEN, Stack, drained, fixture, free_port, read_events, wait_until
from tests.test_charges import ADDON, BASIC, COURSE, CUSTOMER, PRO, SUB, charges, offer_state, pending_offer, purchase
from tests.test_days import restart
from worker import keys

RULES = f"""rules:
  - id: addon
    on: payment.succeeded
    when: {{product: [{COURSE}]}}
    offer: {{type: one_click, product: {ADDON}}}
  - id: go-pro
    on: subscription.active
    when: {{product: [{BASIC}]}}
    offer: {{type: upgrade, product: {PRO}, proration: difference_immediately, discount_code: PRO20,
             effective_at: immediately}}
  - id: near-limit
    on: app.usage_threshold
    offer: {{type: upgrade, product: {PRO}, proration: prorated_immediately}}
"""
ADDONS = [{"addon_id": "adn_seats", "quantity": 3}]


def start(stack: Stack, webhooks: bool = True) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    real = stack.base_url
    if not webhooks:
        stack.base_url = f"http://127.0.0.1:{free_port()}"  # Dodo's webhooks go nowhere
    stack.emulator()
    stack.base_url = real
    stack.web()
    stack.worker(threads=8)
    return stack


@pytest.fixture
def money(stack: Stack) -> Stack:
    return start(stack)


def posts(stack: Stack, path: str) -> list[dict[str, Any]]:
    return [r for r in stack.dodo_requests("POST") if r["path"] == path]


def offer(stack: Stack, offer_id: str) -> dict[str, Any]:
    return stack.api("GET", f"/api/offers/{offer_id}").json()


def test_an_add_on_bought_meanwhile_is_not_charged_again(money: Stack, client: redis.Redis) -> None:
    pending = pending_offer(money, client, purchase())
    bought = copy.deepcopy(fixture("payment.succeeded"))
    bought["data"]["payment_id"] = f"pay_self_{time.monotonic_ns()}"
    bought["data"]["product_cart"] = [{"product_id": ADDON, "quantity": 1}]
    assert money.post(bought).json()["status"] == "queued"
    wait_until(lambda: "priority_support" in money.api("GET", f"/api/customers/{CUSTOMER}/access").json()["features"])
    asked = money.api("GET", f"/api/customers/{CUSTOMER}/eligibility", params={"product_id": ADDON}).json()
    assert asked["reason"] == "already_has_access"
    assert money.api("POST", f"/api/offers/{pending['offer_id']}/accept").status_code == 202
    failed = offer_state(money, pending["offer_id"], "failed")
    assert failed["error_code"] == "already_has_access" and failed["checkout_url"] is None
    drained(client)
    assert money.dodo_requests("POST", "/checkouts") == [], "neither a charge nor a fallback checkout"


def seed_subscription(stack: Stack, customer: str = CUSTOMER, status: str = "active") -> None:
    sub = {"customer_id": customer, "product_id": BASIC, "quantity": 1, "addons": ADDONS, "status": status}
    stack.dodo_control("seed", {"subscriptions": {SUB: sub}})


def test_an_upgrade_keeps_the_add_ons_and_is_quoted_with_its_own_arguments(money: Stack, client: redis.Redis) -> None:
    seed_subscription(money)
    pending = pending_offer(money, client, fixture("subscription.active"), rule="go-pro")
    wait_until(lambda: offer(money, pending["offer_id"])["quote"], what="the quote")
    assert money.api("POST", f"/api/offers/{pending['offer_id']}/accept").status_code == 202
    offer_state(money, pending["offer_id"], "converted")
    (preview,) = posts(money, f"/subscriptions/{SUB}/change-plan/preview")
    (change,) = posts(money, f"/subscriptions/{SUB}/change-plan")
    assert change["body"]["addons"] == ADDONS, "leaving addons out removes them"
    for name in ("product_id", "quantity", "proration_billing_mode", "discount_codes", "addons", "effective_at"):
        assert preview["body"][name] == change["body"][name], name
    assert change["body"]["discount_codes"] == ["PRO20"] and change["body"]["effective_at"] == "immediately"


def app_event(stack: Stack, customer: str, subscription_id: str) -> None:
    body = {"type": "app.usage_threshold", "data": {"subscription_id": subscription_id, "percent_used": 90}}
    headers = {"authorization": f"Bearer {TOKEN}", "idempotency-key": f"k{time.monotonic_ns()}"}
    url = f"{stack.base_url}/api/customers/{customer}/events"
    assert HTTP.post(url, json=body, headers=headers, timeout=15).status_code == 202


def test_no_plan_change_on_another_customers_subscription(money: Stack, client: redis.Redis) -> None:
    seed_subscription(money)  # CUSTOMER's
    app_event(money, "cus_intruder", SUB)
    wait_until(lambda: "subscription_not_owned" in money.procs[-1].output(), what="the refusal")
    drained(client)
    assert money.api("GET", "/api/customers/cus_intruder/offers").json()["offers"] == []
    assert posts(money, f"/subscriptions/{SUB}/change-plan") == []


def test_the_subscription_is_checked_again_right_before_the_change(money: Stack, client: redis.Redis) -> None:
    seed_subscription(money)
    pending = pending_offer(money, client, fixture("subscription.active"), rule="go-pro")
    seed_subscription(money, status="on_hold")  # the card failed after the offer was made
    assert money.api("POST", f"/api/offers/{pending['offer_id']}/accept").status_code == 202
    failed = offer_state(money, pending["offer_id"], "failed")
    assert failed["error_code"] == "subscription_not_active"
    drained(client)
    assert posts(money, f"/subscriptions/{SUB}/change-plan") == []


def test_a_quote_older_than_10_minutes_is_made_again_and_a_higher_one_is_not_charged(
    money: Stack, client: redis.Redis
) -> None:
    seed_subscription(money)
    pending = pending_offer(money, client, fixture("subscription.active"), rule="go-pro")
    shown = wait_until(lambda: offer(money, pending["offer_id"])["quote"], what="the quote")
    money.dodo_control("seed", {"products": {PRO: {"name": "Pro", "price": 9000, "currency": "USD"}}})
    restart(money, 11 * 60)
    refused = money.api("POST", f"/api/offers/{pending['offer_id']}/accept")
    assert refused.status_code == 409 and refused.json()["error"] == "quote changed"
    assert refused.json()["quote"]["total_amount"] > shown["total_amount"]
    assert offer(money, pending["offer_id"])["state"] == "pending"
    assert posts(money, f"/subscriptions/{SUB}/change-plan") == []
    assert money.api("POST", f"/api/offers/{pending['offer_id']}/accept").status_code == 202  # the new quote, seen
    wait_until(lambda: posts(money, f"/subscriptions/{SUB}/change-plan"), what="the change")
    drained(client)
    assert len(posts(money, f"/subscriptions/{SUB}/change-plan")) == 1


def stats_of(stack: Stack, rule: str) -> dict[str, Any]:
    rows = stack.api("GET", "/api/stats", params={"since": "1d"}).json()["rules"]
    (variant,) = next(r for r in rows if r["rule_id"] == rule)["variants"]
    return variant


def test_a_504_after_the_work_with_no_webhook_is_settled_from_dodos_payments(stack: Stack, client: redis.Redis) -> None:
    start(stack, webhooks=False)
    pending = pending_offer(stack, client, purchase())
    stack.dodo_control("faults", {"method": "POST", "path": "/checkouts", "status": 504, "after": True})
    assert stack.api("POST", f"/api/offers/{pending['offer_id']}/accept").status_code == 202
    wait_until(lambda: "charge_outcome_unknown" in stack.procs[-1].output(), what="the unknown outcome")
    assert offer(stack, pending["offer_id"])["checkout_url"] is None
    restart(stack, 90)  # the first reconcile, a minute after the attempt
    converted = offer_state(stack, pending["offer_id"], "converted", 30)
    assert converted["payment_id"].startswith("pay_")
    assert stack.dodo_requests("GET", "/payments"), "read from Dodo's payments, the session id being unknown"
    assert len(charges(stack)) == 1 and len(stack.dodo_requests("POST", "/checkouts")) == 1
    assert sum(stats_of(stack, "addon")["revenue"].values()) > 0, "revenue counted on the reconcile path"


def test_a_charge_dodo_never_made_fails_with_a_fallback_after_the_last_reconcile(
    stack: Stack, client: redis.Redis
) -> None:
    start(stack)
    pending = pending_offer(stack, client, purchase())
    stack.dodo_control("faults", {"method": "POST", "path": "/checkouts", "status": 503})
    assert stack.api("POST", f"/api/offers/{pending['offer_id']}/accept").status_code == 202
    wait_until(lambda: "charge_outcome_unknown" in stack.procs[-1].output(), what="the unknown outcome")
    restart(stack, 6 * 3600 + 60)
    wait_until(lambda: "next look 86400 s" in stack.procs[-1].output(), 30, what="five looks, no payment yet")
    assert offer(stack, pending["offer_id"])["state"] == "charging"
    restart(stack, 25 * 3600)
    failed = offer_state(stack, pending["offer_id"], "failed", 30)
    assert failed["error_code"] == "no_payment_made" and failed["checkout_url"]
    assert len(charges(stack)) == 1, "never a second charge"
    assert len(stack.dodo_requests("POST", "/checkouts")) == 2, "one charge, then one fallback checkout"


def test_refunds_count_once_per_refund_id_and_never_above_the_payment(money: Stack, client: redis.Redis) -> None:
    pending = pending_offer(money, client, purchase())
    money.api("POST", f"/api/offers/{pending['offer_id']}/accept")
    paid = offer_state(money, pending["offer_id"], "converted")
    revenue = stats_of(money, "addon")["revenue"]
    (currency, amount), *_ = revenue.items()

    def refund(refund_id: str, value: int, partial: bool) -> None:
        body = copy.deepcopy(fixture("refund.succeeded"))
        body["data"].update(payment_id=paid["payment_id"], refund_id=refund_id, amount=value, is_partial=partial)
        body["data"]["currency"] = currency
        assert money.post(body).json()["status"] == "queued"  # a new webhook-id each time

    refund("ref_part", amount // 4, True)
    refund("ref_part", amount // 4, True)  # the same refund again, under another webhook-id
    refund("ref_rest", amount, False)  # more than is left
    drained(client)
    row = stats_of(money, "addon")
    assert row["refunded"] == {currency: amount} and row["net"] == {currency: 0}


def test_offer_events_carry_neither_the_payment_method_nor_the_session(money: Stack, client: redis.Redis) -> None:
    pending = pending_offer(money, client, purchase())
    money.api("POST", f"/api/offers/{pending['offer_id']}/accept")
    offer_state(money, pending["offer_id"], "converted")
    drained(client)
    for event in read_events(client):
        if event["type"].startswith("offer."):
            assert "payment_method_id" not in event["data"] and "session_id" not in event["data"], event["type"]


def test_an_offer_event_occurred_when_its_cause_did(money: Stack, client: redis.Redis) -> None:
    """offer.created is as old as the purchase that caused it, not as late as the worker was."""
    bought = purchase()
    bought["timestamp"] = "2026-01-02T03:04:05Z"
    pending_offer(money, client, bought)
    (created,) = [e for e in read_events(client) if e["type"] == "offer.created"]
    assert created["occurred_at"].startswith("2026-01-02T03:04:05")


def test_a_charge_that_never_starts_is_claimed_by_the_reconcile_and_never_runs(
    stack: Stack, client: redis.Redis
) -> None:
    """The charge message is lost (Dramatiq swallows a failed enqueue): the offer does not stay
    `charging` for ever; at the 15-minute look the reconcile claims the attempt and fails it."""
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.emulator()
    stack.web()
    worker = stack.worker(threads=8)
    pending = pending_offer(stack, client, purchase())
    worker.stop()
    stack.procs.remove(worker)
    assert stack.api("POST", f"/api/offers/{pending['offer_id']}/accept").status_code == 202
    queue = keys.queue(keys.INTERNAL_QUEUE)
    lost = [m for m in client.lrange(queue, 0, -1) if "charge_offer" in (client.hget(queue + ".msgs", m) or "")]
    assert len(lost) == 1
    client.lrem(queue, 0, lost[0])
    client.hdel(queue + ".msgs", lost[0])
    restart(stack, 16 * 60)
    failed = offer_state(stack, pending["offer_id"], "failed", 30)
    assert failed["error_code"] == "charge_never_attempted" and failed["checkout_url"]
    assert charges(stack) == []


def test_answers_that_wait_for_the_offer_and_for_the_charge(money: Stack, client: redis.Redis) -> None:
    """`GET .../offers?wait=` answers once a pending offer exists; `accept?wait=` with the settled offer."""
    bought = purchase()  # the demo customer, whose saved card pays
    path = f"/api/customers/{CUSTOMER}/offers"
    assert money.api("GET", path, params={"wait": "31s"}).status_code == 400
    assert money.api("GET", path, params={"wait": "soon"}).status_code == 400
    assert money.post(bought).json()["status"] == "queued"
    started = time.monotonic()
    offers = money.api("GET", path, params={"wait": "10s"}).json()["offers"]
    assert [o["state"] for o in offers] == ["pending"] and time.monotonic() - started < 5
    offer_id = offers[0]["offer_id"]
    assert money.api("POST", f"/api/offers/{offer_id}/accept", params={"wait": "bad"}).status_code == 400
    assert money.api("GET", f"/api/offers/{offer_id}").json()["state"] == "pending", "a bad wait moves nothing"
    settled = money.api("POST", f"/api/offers/{offer_id}/accept", params={"wait": "10s"})
    assert settled.status_code == 200 and settled.json()["state"] == "converted"
    nobody = money.api("GET", "/api/customers/cus_nobody/offers", params={"wait": "300ms"})
    assert nobody.status_code == 200 and nobody.json()["offers"] == []
