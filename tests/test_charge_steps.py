"""Each step of the money path, in-process: the charge (offers/charge.py), how it ends
(offers/outcome.py) and the reconcile from Dodo's records (offers/reconcile.py), against a real
Redis and the emulator's app served on a thread of this process, reached through the real SDK, so the mutation run (tests/mutants.py) can hold these modules in seconds per mutant."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn
from dodopayments import DodoPayments
from starlette.applications import Starlette

from emulator.app import Emulator
from emulator.demo_data import DEMO
from emulator.state import Fault
from tests.conftest import free_port, wait_until
from tests.test_charges import ADDON, BASIC, CUSTOMER, PRO, SUB
from worker import book, keys
from worker.offers import charge, outcome, reconcile, store
from worker.offers.model import Offer
from worker.queue import schedule

STREAM = "upsell:events"


class Dodo:
    """The emulator in this process: its state to seed and inspect, and an SDK client on it."""

    def __init__(self, emulator: Emulator, api: DodoPayments) -> None:
        self.emulator, self.api = emulator, api

    def fail(self, method: str, path: str, status: int = 500, times: int = 1, after: bool = False) -> None:
        self.emulator.state.faults.append(Fault(method, path, status, times=times, after=after))

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.emulator.state.requests if r["method"] == "POST" and r["path"].startswith(path)]

    def asked(self, path: str) -> int:
        return sum(1 for r in self.emulator.state.requests if r["path"].startswith(path))


@pytest.fixture
def dodo() -> Iterator[Dodo]:
    """The emulator served by uvicorn on a thread of this process: real HTTP, state in reach."""
    emulator = Emulator(None, None, copy.deepcopy(DEMO))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=emulator.routes()), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="the emulator thread")
    yield Dodo(emulator, DodoPayments(bearer_token="t", base_url=f"http://127.0.0.1:{port}", max_retries=0))
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def access(rules_dir: Path) -> Any:
    return book.load_dir(rules_dir).access


def charging(client: redis.Redis, **fields: Any) -> Offer:
    """A pending offer made and accepted (moved to charging), as the API's accept leaves it."""
    defaults: dict[str, Any] = {
        "offer_id": f"off_{time.monotonic_ns()}",
        "rule_id": "r",
        "variant": "default",
        "customer_id": CUSTOMER,
        "type": "one_click",
        "product_id": ADDON,
        "quantity": 1,
        "created_at": "2026-12-01T00:00:00Z",
        "source": "msg_test",
        "trigger": "payment.succeeded",
    }
    offer = Offer(**defaults | fields)
    assert store.create(client, STREAM, offer, once=False, cooldown=False) == "created"
    assert store.transition(client, STREAM, offer.offer_id, "charging", event_type="offer.accepted")[0]
    return offer


def now_of(client: redis.Redis, offer: Offer) -> Offer:
    found = store.get(client, offer.offer_id)
    assert found is not None
    return found


def charge_it(client: redis.Redis, dodo: Dodo, access: Any, offer: Offer) -> Offer:
    charge.charge(client, STREAM, dodo.api, access, offer.offer_id)
    return now_of(client, offer)


def test_one_click_charges_the_saved_card_once_and_waits_for_dodo(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    offer = charging(client, source_payment_id="pay_src", return_url="https://shop.example/back")
    after = charge_it(client, dodo, access, offer)
    (sent,) = dodo.posts("/checkouts")
    assert sent["body"]["confirm"] is True and sent["body"]["payment_method_id"] == "pm_0NvCq7Yp4b3XyZ1"
    assert sent["body"]["metadata"] == {
        "upsell_offer_id": offer.offer_id,
        "upsell_rule_id": "r",
        "upsell_source_payment_id": "pay_src",
    }
    assert sent["body"]["return_url"] == "https://shop.example/back" and "discount_codes" not in sent["body"]
    assert after.state == "charging" and after.session_id and after.payment_id and after.payment_method_id
    assert charge.charge(client, STREAM, dodo.api, access, offer.offer_id).startswith("an attempt was made")
    assert len(dodo.posts("/checkouts")) == 1, "the attempt mark: never a second charge"


def test_nothing_happens_to_an_offer_that_is_not_charging(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    offer = charging(client)
    store.transition(client, STREAM, offer.offer_id, "failed", {"error_code": "x"}, event_type="offer.failed")
    assert charge.charge(client, STREAM, dodo.api, access, offer.offer_id).startswith("nothing to do")
    assert charge.charge(client, STREAM, dodo.api, access, "off_missing").startswith("nothing to do")
    assert dodo.emulator.state.requests == [] and client.get(keys.charge_attempt(offer.offer_id)) is None


def test_an_expired_offer_is_failed_without_a_charge_or_a_checkout(
    client: redis.Redis, dodo: Dodo, access: Any
) -> None:
    offer = charging(client, expires_at="2099-01-01T00:00:00Z")
    store.annotate(client, offer.offer_id, "charging", {"expires_at": "2000-01-01T00:00:00Z"})  # past it while charging
    after = charge_it(client, dodo, access, offer)
    assert (after.state, after.error_code, after.checkout_url) == ("failed", "offer_expired", None)
    assert dodo.posts("/checkouts") == []


def test_access_already_held_fails_the_charge_before_dodo_is_asked(
    client: redis.Redis, dodo: Dodo, access: Any
) -> None:
    from datetime import UTC, datetime

    from worker.access import grants

    change = grants.Change(key=f"pay_1/{ADDON}", action="grant", source="pay_1", product_id=ADDON)
    update = grants.Update("msg_1", CUSTOMER, datetime.now(UTC), "access.granted", "payment.succeeded", [change])
    grants.apply(client, STREAM, access, update)
    after = charge_it(client, dodo, access, charging(client))
    assert (after.state, after.error_code, after.checkout_url) == ("failed", "already_has_access", None)
    assert dodo.emulator.state.requests == []


@pytest.mark.parametrize(
    ("spec", "error_code"),
    [
        ({"type": "percentage", "amount": 1000, "expires_at": "2000-01-01T00:00:00Z"}, "discount_expired"),
        (None, "discount_unknown"),
    ],
)
def test_a_code_that_cannot_apply_fails_the_charge_with_no_fallback(
    client: redis.Redis, dodo: Dodo, access: Any, spec: dict[str, Any] | None, error_code: str
) -> None:
    if spec:
        dodo.emulator.discounts.seed({"OFF": spec})
    after = charge_it(client, dodo, access, charging(client, discount_code="OFF"))
    assert (after.state, after.error_code, after.checkout_url) == ("failed", error_code, None)
    assert dodo.posts("/checkouts") == []


def test_a_price_above_the_one_shown_is_not_charged(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    shown = {"complete": True, "price": 900, "price_now": 800, "currency": "USD"}
    after = charge_it(client, dodo, access, charging(client, display=shown))
    assert (after.state, after.error_code) == ("failed", "price_changed") and dodo.posts("/checkouts") == []
    same = {"complete": True, "price": 900, "price_now": 900, "currency": "USD"}
    assert charge_it(client, dodo, access, charging(client, display=same)).state == "charging"


def test_dodo_unable_to_price_fails_before_any_charge(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    dodo.emulator.discounts.seed({"OFF": {"type": "percentage", "amount": 1000}})
    dodo.fail("GET", "/discounts/")
    after = charge_it(client, dodo, access, charging(client, discount_code="OFF"))
    assert (after.state, after.error_code, after.checkout_url) == ("failed", "dodo_http_500", None)
    assert dodo.posts("/checkouts") == []


def test_no_usable_card_fails_with_a_fallback_checkout(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    dodo.emulator.state.customers[CUSTOMER]["payment_methods"] = []
    after = charge_it(client, dodo, access, charging(client))
    assert (after.state, after.error_code) == ("failed", "no_payment_method")
    assert after.checkout_url and after.checkout_url.startswith("https://checkout.emulator.local/")
    (fallback,) = dodo.posts("/checkouts")
    assert "confirm" not in fallback["body"] and "payment_method_id" not in fallback["body"]


def test_payment_methods_unavailable_fails_with_a_fallback(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    dodo.fail("GET", "/customers/")
    after = charge_it(client, dodo, access, charging(client))
    assert (after.state, after.error_code) == ("failed", "dodo_http_500") and after.checkout_url
    assert not any(r["body"].get("confirm") for r in dodo.posts("/checkouts"))


def test_an_unknown_outcome_stays_charging_with_no_second_way_to_pay(
    client: redis.Redis, dodo: Dodo, access: Any
) -> None:
    dodo.fail("POST", "/checkouts", status=502, after=True)
    after = charge_it(client, dodo, access, charging(client))
    assert (after.state, after.checkout_url, after.error_code) == ("charging", None, None)
    assert len(dodo.posts("/checkouts")) == 1
    assert client.zscore(keys.CHARGING, after.offer_id) is not None, "indexed for the unsettled-charge alert"


def test_a_refusal_is_settled_no_with_a_fallback(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    dodo.fail("POST", "/checkouts", status=422)
    after = charge_it(client, dodo, access, charging(client))
    assert (after.state, after.error_code) == ("failed", "dodo_http_422") and after.checkout_url


def plan_change(client: redis.Redis, **fields: Any) -> Offer:
    return charging(client, type="upgrade", product_id=PRO, proration="difference_immediately", **fields)


def test_a_plan_change_is_made_with_its_arguments_and_waits_for_its_payment(
    client: redis.Redis, dodo: Dodo, access: Any
) -> None:
    dodo.emulator.state.subscriptions[SUB]["addons"] = [{"addon_id": "adn_1", "quantity": 2}]
    offer = plan_change(client, subscription_id=SUB, effective_at="immediately", on_payment_failure="apply_change")
    after = charge_it(client, dodo, access, offer)
    (change,) = dodo.posts(f"/subscriptions/{SUB}/change-plan")
    body = change["body"]
    assert body["addons"] == [{"addon_id": "adn_1", "quantity": 2}] and body["on_payment_failure"] == "apply_change"
    assert body["effective_at"] == "immediately"
    assert body["product_id"] == PRO and body["metadata"]["upsell_offer_id"] == after.offer_id
    assert after.state == "charging" and after.payment_id


def test_a_plan_change_billing_nothing_converts_at_once(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    offer = charging(client, type="downgrade", product_id=BASIC, proration="do_not_bill", subscription_id=SUB)
    dodo.emulator.state.subscriptions[SUB]["product_id"] = PRO
    assert charge_it(client, dodo, access, offer).state == "converted"


@pytest.mark.parametrize(
    ("change", "error_code"),
    [
        ({"customer_id": "cus_someone_else"}, "subscription_not_owned"),
        ({"status": "cancelled"}, "subscription_not_active"),
        ({"product_id": PRO}, "already_on_product"),
    ],
)
def test_a_plan_change_checks_the_subscription_again(
    client: redis.Redis, dodo: Dodo, access: Any, change: dict[str, Any], error_code: str
) -> None:
    dodo.emulator.state.subscriptions[SUB].update(change)
    after = charge_it(client, dodo, access, plan_change(client, subscription_id=SUB))
    assert (after.state, after.error_code, after.checkout_url) == ("failed", error_code, None)
    assert dodo.posts(f"/subscriptions/{SUB}/change-plan") == []


def test_a_plan_change_without_a_readable_subscription_fails_without_a_fallback(
    client: redis.Redis, dodo: Dodo, access: Any
) -> None:
    assert charge_it(client, dodo, access, plan_change(client)).error_code == "no_subscription_to_change"
    dodo.fail("GET", "/subscriptions/")
    after = charge_it(client, dodo, access, plan_change(client, subscription_id=SUB))
    assert (after.state, after.error_code, after.checkout_url) == ("failed", "dodo_http_500", None)
    dodo.fail("POST", f"/subscriptions/{SUB}/change-plan", status=422)
    refused = charge_it(client, dodo, access, plan_change(client, subscription_id=SUB))
    assert (refused.state, refused.error_code, refused.checkout_url) == ("failed", "dodo_http_422", None)


def test_accepting_queues_the_charge_and_the_first_look(client: redis.Redis) -> None:
    offer = charging(client)
    with client.pipeline() as pipe:
        charge.schedule_charge(pipe, offer)
        pipe.execute()
    assert client.zscore(keys.SCHEDULE, f"reconcile:{offer.offer_id}:0") is not None
    due = float(client.zscore(keys.SCHEDULE, f"reconcile:{offer.offer_id}:0") or 0)
    assert 55 <= due - time.time() <= 61, "the first look a minute after"


def test_checkout_arguments_carry_the_offer_and_only_what_it_has(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"offer_id": "off_1", "rule_id": "r", "variant": "v", "customer_id": CUSTOMER, "type": "one_click"}
    offer = Offer(**base, product_id=ADDON, quantity=2, created_at="x", source="s", trigger="t")
    monkeypatch.delenv("UPSELL_RETURN_URL", raising=False)
    assert outcome.checkout_args(offer) == {
        "product_cart": [{"product_id": ADDON, "quantity": 2}],
        "customer": {"customer_id": CUSTOMER},
        "metadata": {"upsell_offer_id": "off_1", "upsell_rule_id": "r"},
    }
    monkeypatch.setenv("UPSELL_RETURN_URL", "https://shop.example/r")
    assert outcome.checkout_args(offer)["return_url"] == "https://shop.example/r"
    coded = offer.model_copy(update={"discount_code": "TEN", "return_url": "https://own.example/"})
    assert outcome.checkout_args(coded)["discount_codes"] == ["TEN"]
    assert outcome.checkout_args(coded)["return_url"] == "https://own.example/"


def test_a_conversion_counts_its_revenue_once_whoever_settles_it(client: redis.Redis) -> None:
    from worker.stats import report

    offer = charging(client)
    assert outcome.convert(client, STREAM, offer.offer_id, "pay_1", 810, "usd")
    assert not outcome.convert(client, STREAM, offer.offer_id, "pay_1", 810, "usd")
    today = time.gmtime()
    day = __import__("datetime").date(today.tm_year, today.tm_mon, today.tm_mday)
    (rule,) = report.report(client, day, day)["rules"]
    assert rule["variants"][0]["revenue"] == {"USD": 810} and rule["variants"][0]["converted"] == 1
    assert now_of(client, offer).payment_id == "pay_1"


def test_a_conversion_with_nothing_billed_counts_no_revenue(client: redis.Redis) -> None:
    from worker.stats import report

    offer = charging(client)
    assert outcome.convert(client, STREAM, offer.offer_id, None, 0, "USD")
    day = report.parse_moment("0d")
    (rule,) = report.report(client, day, day)["rules"]
    assert rule["variants"][0]["revenue"] == {} and rule["variants"][0]["converted"] == 1


def _schedule_of(client: redis.Redis, offer: Offer) -> list[str]:
    return [job for job in client.zrange(keys.SCHEDULE, 0, -1) if offer.offer_id in job]


def test_reconcile_waits_for_a_charge_not_yet_started_then_claims_it(client: redis.Redis, dodo: Dodo) -> None:
    offer = charging(client)
    accepted = time.time()
    said = reconcile.reconcile(client, STREAM, dodo.api, offer.offer_id, 0, accepted)
    assert "not started" in said and _schedule_of(client, offer) == [f"reconcile:{offer.offer_id}:1"]
    reconcile.reconcile(client, STREAM, dodo.api, offer.offer_id, reconcile.NEVER_STARTED_STEP, accepted)
    after = now_of(client, offer)
    assert (after.state, after.error_code) == ("failed", "charge_never_attempted") and after.checkout_url
    assert client.get(keys.charge_attempt(offer.offer_id)), "claimed: the queued charge never runs"
    assert schedule is not None


def attempted(client: redis.Redis, offer: Offer, at: float | None = None) -> float:
    """The charge's attempt mark, as the charge sets it before its call."""
    at = time.time() if at is None else at
    client.set(keys.charge_attempt(offer.offer_id), str(at))
    return at


def look_at(client: redis.Redis, dodo: Dodo, offer: Offer, step: int = 0) -> Offer:
    reconcile.reconcile(client, STREAM, dodo.api, offer.offer_id, step, time.time())
    return now_of(client, offer)


def test_reconcile_converts_from_the_session_dodo_paid_net_of_tax(client: redis.Redis, dodo: Dodo, access: Any) -> None:
    offer = charge_it(client, dodo, access, charging(client))  # charged: the session and its payment exist
    dodo.emulator.state.payments[offer.payment_id or ""]["tax"] = 100
    after = look_at(client, dodo, offer)
    assert (after.state, after.payment_id) == ("converted", offer.payment_id)
    from worker.stats import report

    day = report.parse_moment("0d")
    (rule,) = report.report(client, day, day)["rules"]
    assert rule["variants"][0]["revenue"] == {"USD": 800}, "900 charged, 100 of it tax"


def test_reconcile_fails_a_session_dodo_says_failed_with_a_fallback(
    client: redis.Redis, dodo: Dodo, access: Any
) -> None:
    dodo.emulator.state.customers[CUSTOMER]["payment_methods"][0]["decline_code"] = "CARD_DECLINED"
    offer = charge_it(client, dodo, access, charging(client))
    after = look_at(client, dodo, offer)
    assert (after.state, after.error_code) == ("failed", "payment_failed") and after.checkout_url


def test_reconcile_finds_the_payment_by_the_offer_id_when_no_session_is_known(client: redis.Redis, dodo: Dodo) -> None:
    offer = charging(client)
    attempted(client, offer)
    dodo.emulator.state.payments["pay_other"] = _payment("pay_other", "off_someone_else", "succeeded")
    assert look_at(client, dodo, offer).state == "charging", "another offer's payment settles nothing"
    dodo.emulator.state.payments["pay_mine"] = _payment("pay_mine", offer.offer_id, "processing")
    assert look_at(client, dodo, offer, 1).state == "charging", "pending at Dodo: looked at again"
    dodo.emulator.state.payments["pay_mine"] = _payment("pay_mine", offer.offer_id, "succeeded")
    after = look_at(client, dodo, offer, 2)
    assert (after.state, after.payment_id) == ("converted", "pay_mine")


def test_reconcile_fails_a_listed_payment_dodo_failed(client: redis.Redis, dodo: Dodo) -> None:
    offer = charging(client)
    attempted(client, offer)
    dodo.emulator.state.payments["pay_mine"] = _payment("pay_mine", offer.offer_id, "failed")
    after = look_at(client, dodo, offer)
    assert (after.state, after.error_code) == ("failed", "payment_failed") and after.checkout_url


def test_reconcile_ignores_payments_from_before_the_attempt_less_the_clock_skew(
    client: redis.Redis, dodo: Dodo
) -> None:
    offer = charging(client)
    at = attempted(client, offer)
    old = _payment("pay_old", offer.offer_id, "succeeded")
    old["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at - reconcile.CLOCK_SKEW_SECONDS - 60))
    dodo.emulator.state.payments["pay_old"] = old
    assert look_at(client, dodo, offer).state == "charging"
    old["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at - reconcile.CLOCK_SKEW_SECONDS + 60))
    assert look_at(client, dodo, offer, 1).state == "converted"


def test_nothing_found_is_looked_for_again_until_the_last_look_then_failed(client: redis.Redis, dodo: Dodo) -> None:
    offer = charging(client)
    at = attempted(client, offer)
    for step in range(len(reconcile.STEPS) - 1):
        assert look_at(client, dodo, offer, step).state == "charging"
        due = client.zscore(keys.SCHEDULE, f"reconcile:{offer.offer_id}:{step + 1}")
        assert due is not None and abs(due - max(at + reconcile.STEPS[step + 1], time.time())) < 5
    after = look_at(client, dodo, offer, len(reconcile.STEPS) - 1)
    assert (after.state, after.error_code) == ("failed", "no_payment_made") and after.checkout_url


def test_a_known_session_dodo_cannot_settle_ends_unknown_without_a_fallback(client: redis.Redis, dodo: Dodo) -> None:
    offer = charging(client)
    attempted(client, offer)
    dodo.emulator.state.sessions["cks_lost"] = {"session_id": "cks_lost", "payment_id": None, "payment_status": None}
    store.annotate(client, offer.offer_id, "charging", {"session_id": "cks_lost"})
    assert look_at(client, dodo, offer, len(reconcile.STEPS) - 2).state == "charging"
    after = look_at(client, dodo, offer, len(reconcile.STEPS) - 1)
    assert (after.state, after.error_code, after.checkout_url) == ("failed", "charge_outcome_unknown", None)


def test_dodo_unreachable_during_a_look_is_looked_at_again(client: redis.Redis, dodo: Dodo) -> None:
    offer = charging(client)
    attempted(client, offer)
    dodo.fail("GET", "/payments")
    assert look_at(client, dodo, offer).state == "charging"
    assert client.zscore(keys.SCHEDULE, f"reconcile:{offer.offer_id}:1") is not None


def test_a_plan_change_dodo_made_without_billing_converts(client: redis.Redis, dodo: Dodo) -> None:
    offer = plan_change(client, subscription_id=SUB)
    attempted(client, offer)
    assert look_at(client, dodo, offer).state == "charging"
    dodo.emulator.state.subscriptions[SUB]["product_id"] = PRO
    assert look_at(client, dodo, offer, 1).state == "converted"


def test_a_settled_offer_is_left_alone(client: redis.Redis, dodo: Dodo) -> None:
    offer = charging(client)
    outcome.convert(client, STREAM, offer.offer_id, "pay_1", 900, "USD")
    said = reconcile.reconcile(client, STREAM, dodo.api, offer.offer_id, 0, time.time())
    assert said == "settled already: offer is converted" and dodo.emulator.state.requests == []


def _payment(payment_id: str, offer_id: str, status: str) -> dict[str, Any]:
    from emulator import lifecycle

    found = lifecycle.payment(payment_id, {"customer_id": CUSTOMER, "total_amount": 900, "currency": "USD"})
    return found | {"metadata": {"upsell_offer_id": offer_id}, "status": status}


def test_the_reconcile_schedule_is_the_documented_one() -> None:
    """docs/apps.md: looks 1 m, 5 m, 15 m, 1 h, 6 h and 24 h after the attempt; a charge not started
    by the 15-minute look never starts; payments listed from 10 minutes before the attempt."""
    assert reconcile.STEPS == (60, 300, 900, 3600, 21600, 86400)
    assert reconcile.STEPS[reconcile.NEVER_STARTED_STEP] == 900 and reconcile.CLOCK_SKEW_SECONDS == 600


def test_payments_are_looked_for_from_the_attempt_not_from_now(client: redis.Redis, dodo: Dodo) -> None:
    offer = charging(client)
    at = attempted(client, offer, time.time() - 7200)  # the attempt two hours ago; the payment an hour later
    paid = _payment("pay_late", offer.offer_id, "succeeded")
    paid["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at + 3600))
    dodo.emulator.state.payments["pay_late"] = paid
    assert look_at(client, dodo, offer, 3).state == "converted"
    listed = [r for r in dodo.emulator.state.requests if r["path"] == "/payments"]
    assert len(listed) == 1, "one page: fewer items than a page ends the listing"


def test_a_one_click_offer_is_never_settled_by_a_subscription_being_on_its_product(
    client: redis.Redis, dodo: Dodo
) -> None:
    offer = charging(client, product_id=BASIC, subscription_id=SUB)  # a one-click offer made on a subscription's event
    attempted(client, offer)
    assert look_at(client, dodo, offer).state == "charging"
    assert not any(r["path"].startswith("/subscriptions/") for r in dodo.emulator.state.requests)


def test_an_offer_is_priced_with_its_code_and_without_one(client: redis.Redis, dodo: Dodo) -> None:
    from worker.offers import pricing

    dodo.emulator.discounts.seed({"OFF": {"type": "percentage", "amount": 1000}})
    coded = charging(client, discount_code="OFF", quantity=2)
    shown, unavailable = pricing.priced(dodo.api, coded)
    assert unavailable is None and (shown["price"], shown["price_now"]) == (900, 1620)
    assert shown["discount"] == {"code": "OFF", "type": "percentage", "amount": 1000, "ends_at": None}
    plain, _ = pricing.priced(dodo.api, charging(client))
    assert (plain["price_now"], plain["discount"]) == (900, None)
    assert pricing.priced(dodo.api, charging(client, discount_code="NOPE"))[1] == "discount_unknown"
