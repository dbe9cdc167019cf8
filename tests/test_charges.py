"""The money path against the local Dodo emulator through the real SDK: at most one charge, always."""

from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from tests.conftest import HTTP, Stack, drained, fixture, read_events, wait_until
from worker import keys

BASIC, PRO, COURSE, ADDON = (
    "pdt_RUST4raxbl0Rfe4VQi1z",
    "pdt_PRO0planUpgrade9xQ",
    "pdt_e9mUw084cWnu0tz",
    "pdt_ADDON0priority7Kq",
)
CUSTOMER = "cus_8VbC6JDZzPEqfBPUdpj0K"
SUB = "sub_7EeHq2ewQuadropD2ra"
RULES = f"""rules:
  - id: addon
    on: payment.succeeded
    when: {{product: [{COURSE}]}}
    offer: {{type: one_click, product: {ADDON}}}
  - id: go-pro
    on: subscription.active
    when: {{product: [{BASIC}]}}
    offer: {{type: upgrade, product: {PRO}, proration: difference_immediately}}
  - id: go-basic
    on: subscription.plan_changed
    when: {{product: [{PRO}]}}
    offer: {{type: downgrade, product: {BASIC}, proration: do_not_bill}}
"""


def card(method_id: str, *, recurring: bool = True, year: str = "2099", decline: str | None = None) -> dict[str, Any]:
    method = {
        "payment_method_id": method_id,
        "payment_method": "card",
        "recurring_enabled": recurring,
        "card": {"card_network": "visa", "last4_digits": "4242", "expiry_month": "01", "expiry_year": year},
    }
    return method | ({"decline_code": decline} if decline else {})


@pytest.fixture
def money(stack: Stack) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.extra_env["UPSELL_RETURN_URL"] = "https://shop.example/thanks"
    stack.emulator()
    stack.web()
    stack.worker(threads=8)
    return stack


def purchase(customer: str = CUSTOMER) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("payment.succeeded"))
    payload["data"]["customer"]["customer_id"] = customer
    payload["data"]["payment_id"] = f"pay_{time.monotonic_ns()}"
    return payload


def pending_offer(
    stack: Stack, client: redis.Redis, payload: dict[str, Any], rule: str = "addon", post: bool = True
) -> dict[str, Any]:
    """The rule's pending offer for the payload's customer, once made (`post`: the payload is sent first)."""
    assert not post or stack.post(payload).json()["status"] == "queued"
    customer = payload["data"]["customer"]["customer_id"]

    def found() -> dict[str, Any] | None:
        offers = stack.api("GET", f"/api/customers/{customer}/offers").json()["offers"]
        return next((o for o in offers if o["rule_id"] == rule and o["state"] == "pending"), None)

    return wait_until(found, what="pending offer")


def offer_state(stack: Stack, offer_id: str, state: str, timeout: float = 20) -> dict[str, Any]:
    return wait_until(
        lambda: (o := stack.api("GET", f"/api/offers/{offer_id}").json())["state"] == state and o,
        timeout,
        what=f"offer {state}",
    )


def charges(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.dodo_requests("POST", "/checkouts") if r["body"].get("confirm")]


def test_accept_charges_once_converts_and_grants(money: Stack, client: redis.Redis) -> None:
    offer = pending_offer(money, client, purchase())
    accepted = money.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    assert accepted.status_code == 202 and accepted.json()["state"] == "charging"
    converted = offer_state(money, offer["offer_id"], "converted")
    assert client.zscore(keys.CHARGING, offer["offer_id"]) is None, "no longer charging: out of the index"
    (request,) = charges(money)
    assert request["body"]["payment_method_id"] == "pm_0NvCq7Yp4b3XyZ1"
    assert request["body"]["customer"] == {"customer_id": CUSTOMER}
    source_payment = client.xrange("upsell:events")  # the purchase that made the offer
    assert request["body"]["metadata"] == {
        "upsell_offer_id": offer["offer_id"],
        "upsell_rule_id": "addon",
        "upsell_source_payment_id": offer["source_payment_id"],
    }
    assert offer["source_payment_id"].startswith("pay_") and source_payment
    assert request["body"]["return_url"] == "https://shop.example/thanks"
    assert converted["payment_id"].startswith("pay_")
    types = [e["type"] for e in read_events(client)]
    assert types.count("offer.accepted") == 1 and types.count("offer.converted") == 1
    wait_until(
        lambda: "priority_support" in money.api("GET", f"/api/customers/{CUSTOMER}/access").json()["features"],
        what="access",
    )
    again = money.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    assert again.status_code == 202 and again.json()["state"] == "converted"
    assert len(charges(money)) == 1


def test_twenty_concurrent_accepts_charge_once(money: Stack, client: redis.Redis) -> None:
    offer = pending_offer(money, client, purchase())
    with ThreadPoolExecutor(20) as pool:
        codes = list(
            pool.map(lambda _: money.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code, range(20))
        )
    assert codes == [202] * 20
    offer_state(money, offer["offer_id"], "converted")
    drained(client)
    assert len(charges(money)) == 1
    assert [e["type"] for e in read_events(client)].count("offer.accepted") == 1


def test_worker_killed_after_dodo_took_the_charge(money: Stack, client: redis.Redis) -> None:
    offer = pending_offer(money, client, purchase())
    money.dodo_control("faults", {"method": "POST", "path": "/checkouts", "after": True, "delay": 8, "status": 500})
    victim = money.procs[-1]
    assert money.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202
    wait_until(lambda: charges(money), what="charge reached the emulator")
    victim.kill()
    money.worker(threads=8)
    offer_state(money, offer["offer_id"], "converted", 30)
    # the killed worker's charge message comes back after the heartbeat timeout: it must not charge
    wait_until(
        lambda: "nothing to do: offer is converted" in "".join(p.output() for p in money.procs[-1:]),
        90,
        what="redelivered charge message",
    )
    assert len(charges(money)) == 1


@pytest.mark.parametrize("mode", ["504 after the work", "timeout after the work", "500 before the work"])
def test_an_unknown_outcome_is_never_a_reason_for_a_second_way_to_pay(
    money: Stack, client: redis.Redis, mode: str
) -> None:
    """A 5xx, or an answer after the client's timeout, on the charging call: the money may have
    moved. The offer stays `charging` with no checkout_url until Dodo's webhook (or a reconcile)
    settles it; Dodo never sees a second charge or a fallback checkout."""
    offer = pending_offer(money, client, purchase())
    fault = {"method": "POST", "path": "/checkouts", "status": 504 if mode.startswith("504") else 500}
    fault |= {"after": False} if mode.startswith("500") else {"after": True, "delay": 7 if "timeout" in mode else 0}
    money.dodo_control("faults", fault)
    assert money.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202
    wait_until(lambda: "charge_outcome_unknown" in money.procs[-1].output(), 20, what="the unknown outcome")
    if mode.startswith("500"):
        drained(client)  # the first reconcile is a minute away (tests/test_money.py follows it)
        now = money.api("GET", f"/api/offers/{offer['offer_id']}").json()
        assert now["state"] == "charging" and now["checkout_url"] is None
    else:  # Dodo charged: its payment webhook settles the offer
        offer_state(money, offer["offer_id"], "converted", 30)
    again = money.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    assert again.status_code == 202
    drained(client)
    assert len(charges(money)) == 1
    assert len(money.dodo_requests("POST", "/checkouts")) == 1, "no fallback checkout while the outcome is unknown"
    assert not [e for e in read_events(client) if e["type"] == "offer.failed"]


@pytest.mark.parametrize(
    ("methods", "reason"),
    [
        ([], "no_payment_method"),
        ([card("pm_old", year="2020")], "payment_method_expired"),
        ([card("pm_once", recurring=False)], "payment_method_not_recurring"),
        (None, "no_payment_method"),  # the only card belongs to another customer
    ],
)
def test_ineligible_method_falls_back_to_checkout(
    money: Stack, client: redis.Redis, methods: list[dict[str, Any]] | None, reason: str
) -> None:
    customer = f"cus_fallback_{reason}"
    seed = (
        {customer: {"payment_methods": methods}}
        if methods is not None
        else {customer: {"payment_methods": []}, "cus_other": {"payment_methods": [card("pm_other")]}}
    )
    money.dodo_control("seed", {"customers": seed})
    offer = pending_offer(money, client, purchase(customer))
    asked = money.api("GET", f"/api/customers/{customer}/eligibility", params={"product_id": ADDON}).json()
    assert asked == {"customer_id": customer, "product_id": ADDON, "eligible": False, "reason": reason}, asked
    money.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    failed = offer_state(money, offer["offer_id"], "failed")
    assert failed["error_code"] == reason and failed["checkout_url"].startswith("https://checkout.emulator.local/")
    assert charges(money) == []
    (fallback,) = money.dodo_requests("POST", "/checkouts")  # the customer's own checkout, sent back to the app
    assert fallback["body"]["return_url"] == "https://shop.example/thanks"
    assert fallback["body"]["metadata"]["upsell_rule_id"] == "addon"
    (event,) = [e for e in read_events(client) if e["type"] == "offer.failed"]
    assert event["data"]["checkout_url"] == failed["checkout_url"]


def test_payment_failed_for_an_upsell(money: Stack, client: redis.Redis) -> None:
    money.dodo_control(
        "seed", {"customers": {"cus_declined": {"payment_methods": [card("pm_low", decline="INSUFFICIENT_FUNDS")]}}}
    )
    offer = pending_offer(money, client, purchase("cus_declined"))
    money.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    failed = offer_state(money, offer["offer_id"], "failed")
    assert failed["error_code"] == "INSUFFICIENT_FUNDS" and failed["checkout_url"]
    (event,) = [e for e in read_events(client) if e["type"] == "offer.failed"]
    assert event["data"]["checkout_url"] and event["data"]["error_code"] == "INSUFFICIENT_FUNDS"
    drained(client)
    assert len(charges(money)) == 1


def test_upgrade_then_downgrade_with_quote_and_one_changed_event(money: Stack, client: redis.Redis) -> None:
    offer = pending_offer(money, client, fixture("subscription.active"), rule="go-pro")
    quoted = wait_until(
        lambda: (o := money.api("GET", f"/api/offers/{offer['offer_id']}").json())["quote"] and o, what="quote"
    )
    assert (
        quoted["quote"]["total_amount"] == 2000
        and quoted["quote"]["currency"] == "USD"
        and quoted["subscription_id"] == SUB
    )
    assert money.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202
    offer_state(money, offer["offer_id"], "converted")
    (change,) = [r for r in money.dodo_requests("POST") if r["path"] == f"/subscriptions/{SUB}/change-plan"]
    assert change["body"]["proration_billing_mode"] == "difference_immediately"
    assert change["body"]["on_payment_failure"] == "prevent_change" and change["body"]["product_id"] == PRO
    paths = [r["path"] for r in money.dodo_requests("POST", f"/subscriptions/{SUB}")]
    assert paths.index(f"/subscriptions/{SUB}/change-plan/preview") < paths.index(f"/subscriptions/{SUB}/change-plan")
    wait_until(lambda: money.api("GET", f"/api/customers/{CUSTOMER}/access").json()["tier"] == "pro", what="pro access")
    assert [e["type"] for e in read_events(client) if e["type"].startswith("access.")] == [
        "access.granted",
        "access.changed",
    ]

    down = wait_until(
        lambda: next(
            (
                o
                for o in money.api("GET", f"/api/customers/{CUSTOMER}/offers").json()["offers"]
                if o["rule_id"] == "go-basic"
            ),
            None,
        ),
        what="downgrade offer",
    )
    money.api("POST", f"/api/offers/{down['offer_id']}/accept")
    offer_state(money, down["offer_id"], "converted")
    changes = [r for r in money.dodo_requests("POST") if r["path"] == f"/subscriptions/{SUB}/change-plan"]
    assert [c["body"]["proration_billing_mode"] for c in changes] == ["difference_immediately", "do_not_bill"]
    wait_until(
        lambda: money.api("GET", f"/api/customers/{CUSTOMER}/access").json()["tier"] == "basic", what="basic again"
    )


def test_change_preview_endpoint(money: Stack) -> None:
    answer = money.api(
        "GET", f"/api/subscriptions/{SUB}/change-preview", params={"product_id": PRO, "proration": "full_immediately"}
    )
    assert answer.status_code == 200 and answer.json()["quote"]["total_amount"] == 3000
    assert money.api("GET", f"/api/subscriptions/{SUB}/change-preview").status_code == 400
    assert money.api("GET", "/api/subscriptions/sub_nope/change-preview", params={"product_id": PRO}).status_code == 404


def test_slow_dodo_is_bounded_and_never_holds_up_calls_that_do_not_need_it(money: Stack) -> None:
    """60 previews against a Dodo that stalls 4 s: 8 reach Dodo, the rest hear 503 dodo_busy, and
    an access read made meanwhile answers at once (without the lane it queued behind them)."""
    money.dodo_control("faults", {"method": "POST", "path": "/subscriptions/", "delay": 4, "status": 500, "times": 60})
    params = {"product_id": PRO}

    def preview(_: int) -> int:
        return money.api("GET", f"/api/subscriptions/{SUB}/change-preview", params=params).status_code

    with ThreadPoolExecutor(60) as pool:
        answers = pool.map(preview, range(60))
        wait_until(lambda: len(money.dodo_requests("POST", "/subscriptions/")) >= 8, what="Dodo calls in flight")
        started = time.monotonic()
        assert money.api("GET", f"/api/customers/{CUSTOMER}/access").status_code == 200
        access_seconds = time.monotonic() - started
        statuses = sorted(answers)
    assert access_seconds < 1.0, access_seconds
    reached = len(money.dodo_requests("POST", "/subscriptions/"))
    assert statuses.count(502) == reached and statuses.count(503) == 60 - reached > 0, statuses
    assert HTTP.get(money.dodo_url + "/_emulator/requests").json()["max_in_flight"] == 8


def test_api_guards_offers(money: Stack, client: redis.Redis) -> None:
    offer = pending_offer(money, client, purchase())
    path = f"/api/offers/{offer['offer_id']}/accept"
    assert money.api("POST", path, token=None).status_code == 401
    assert money.api("POST", path, token="nope").status_code == 401
    assert money.api("POST", path, params={"customer_id": "cus_someone_else"}).status_code == 404
    assert (
        money.api("GET", f"/api/offers/{offer['offer_id']}", params={"customer_id": "cus_someone_else"}).status_code
        == 404
    )
    assert money.api("POST", "/api/offers/off_missing/accept").status_code == 404
    assert money.api("GET", f"/api/offers/{offer['offer_id']}").json()["state"] == "pending"
    assert money.api("POST", f"/api/offers/{offer['offer_id']}/decline").status_code == 200
    refused = money.api("POST", path)
    assert refused.status_code == 409 and refused.json()["error"] == "the offer was declined"
    assert charges(money) == []


def test_offer_display_from_dodo_and_one_click_only_for_the_app(money: Stack, client: redis.Redis) -> None:
    offer = pending_offer(money, client, purchase())
    (created,) = [e["data"] for e in read_events(client) if e["type"] == "offer.created"]
    shown = {"product_name": "Priority support", "price": 900, "currency": "USD", "recurring": False, "complete": True}
    shown |= {"price_now": 900, "discount": None}
    assert created["display"] == shown, "the event carries name and prices, no card"
    read = money.api("GET", f"/api/offers/{offer['offer_id']}").json()["display"]
    assert read == {**shown, "one_click": True, "payment_method": {"brand": "visa", "last4": "4242"}}
    listed = money.api("GET", f"/api/customers/{CUSTOMER}/offers").json()["offers"]
    assert listed[0]["display"]["one_click"] is True
    for proc in money.procs:
        assert '"last4"' not in proc.output() and "payment_method_id" not in proc.output(), proc.log


def test_display_fills_in_when_dodo_was_down_and_says_when_no_card(stack: Stack, client: redis.Redis) -> None:
    """Dodo fails the worker's product lookups (the catalogue's at start, then the offer's own): the
    offer is still made, its event says the display is incomplete, and the app's next read fills it in."""
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.emulator()
    stack.web()
    stack.dodo_control("faults", {"method": "GET", "path": "/products/", "status": 503, "times": 4})
    worker = stack.worker(threads=8)
    wait_until(lambda: worker.output().count("catalogue_product_unavailable") == 3, what="the catalogue's 3 failures")
    money = stack
    money.dodo_control("seed", {"customers": {"cus_no_card": {"payment_methods": []}}})
    offer = pending_offer(money, client, purchase("cus_no_card"))
    (created,) = [e["data"] for e in read_events(client) if e["type"] == "offer.created"]
    assert created["display"] == {"complete": False}
    read = money.api("GET", f"/api/offers/{offer['offer_id']}").json()["display"]
    assert read["complete"] and read["product_name"] == "Priority support"
    assert read["one_click"] is False and read["one_click_reason"] == "no_payment_method"
    assert "payment_method" not in read


def test_the_first_offer_after_a_start_waits_on_no_product_lookup(money: Stack, client: redis.Redis) -> None:
    """The worker loads the rules' products at start (and again before they expire): the offer's
    display is complete and Dodo is asked for no product while the offer is made."""
    for product in (ADDON, PRO, BASIC):
        wait_until(lambda p=product: money.dodo_requests("GET", f"/products/{p}"), what=f"{product} loaded at start")
    asked = len(money.dodo_requests("GET", "/products/"))
    offer = pending_offer(money, client, purchase())
    assert offer["display"]["complete"] is True and offer["display"]["price"] is not None
    assert len(money.dodo_requests("GET", "/products/")) == asked, "no product lookup on the way to the offer"


def test_the_catalogue_reloads_every_product_the_rules_offer(money: Stack) -> None:
    from dodopayments import DodoPayments

    from worker import book, products

    rules = book.load_dir(money.rules_dir)
    assert rules.offered_products == {ADDON, PRO, BASIC}
    api = DodoPayments(bearer_token="test_key_emulator", base_url=money.dodo_url)
    before = wait_until(
        lambda: (n := len(money.dodo_requests("GET", "/products/"))) >= 3 and n, what="the worker's load"
    )
    assert products.Catalogue(api, lambda: rules.offered_products).refresh() == 3
    assert len(money.dodo_requests("GET", "/products/")) == before + 3
    assert products.REFRESH_SECONDS < products.PRODUCT_SECONDS, "reloaded before an entry expires"
