"""Discounts as Dodo has them, through the emulator and the real SDK: the price an offer shows is the
price its charge asks, a code that cannot apply is found before money moves (at load, when the
offer is made, and again right before the charge), and the figures are what Dodo took."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from tests.conftest import Stack, drained, wait_until
from tests.test_charges import ADDON, BASIC, COURSE, CUSTOMER, PRO, charges, offer_state, pending_offer, purchase
from worker.access.payments import net_amount


def rules(code: str, *, on_unavailable: str | None = None, quantity: int = 1) -> str:
    extra = f"    on_discount_unavailable: {on_unavailable}\n" if on_unavailable else ""
    return (
        "rules:\n  - id: addon\n    on: payment.succeeded\n"
        f"    offer: {{type: one_click, product: {ADDON}, quantity: {quantity}, discount_code: {code}}}\n" + extra
    )


def start(stack: Stack, rule_text: str, codes: dict[str, dict[str, Any]]) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text(rule_text)
    stack.emulator()
    stack.dodo_control("seed", {"discounts": codes})
    stack.web()
    stack.worker(threads=8)
    return stack


def iso(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def stats_variants(stack: Stack, rule: str = "addon") -> list[dict[str, Any]]:
    found = stack.api("GET", "/api/stats", params={"since": "1d"}).json()["rules"]
    return next((r["variants"] for r in found if r["rule_id"] == rule), [])


def emulator_payment(stack: Stack, payment_id: str) -> dict[str, Any]:
    from tests.conftest import HTTP

    return HTTP.get(f"{stack.dodo_url}/payments/{payment_id}", headers={"authorization": "Bearer t"}).json()


@pytest.mark.parametrize(
    ("spec", "quantity", "price_now"),
    [
        ({"type": "percentage", "amount": 540}, 1, 851),  # 5.4 % of 900 is 48.6: 49 off, half up
        ({"type": "percentage", "amount": 2500}, 3, 2025),  # 25 % of 2,700
        (
            {
                "type": "percentage",
                "amount": 5000,
                "currency_options": [{"currency": "USD", "max_amount_possible": 300}],
            },
            2,
            1500,
        ),
        (
            {"type": "flat", "amount": 250, "currency_options": [{"currency": "USD", "max_amount_possible": 250}]},
            1,
            650,
        ),
    ],
    ids=["percentage", "percentage-times-3", "percentage-capped", "flat"],
)
def test_a_code_is_shown_and_charged_the_same(
    stack: Stack, client: redis.Redis, spec: dict[str, Any], quantity: int, price_now: int
) -> None:
    start(stack, rules("SAVE", quantity=quantity), {"SAVE": spec})
    offer = pending_offer(stack, client, purchase())
    shown = offer["display"]
    assert shown["price"] == 900 and shown["price_now"] == price_now, shown
    assert shown["discount"]["code"] == "SAVE" and shown["discount"]["type"] == spec["type"]
    assert stack.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202
    converted = offer_state(stack, offer["offer_id"], "converted")
    (charge,) = charges(stack)
    assert charge["body"]["discount_codes"] == ["SAVE"]
    paid = emulator_payment(stack, converted["payment_id"])
    assert paid["total_amount"] == price_now, "Dodo charged what the offer showed"
    assert paid["discounts"][0]["code"] == "SAVE"
    drained(client)
    (variant,) = stats_variants(stack)
    assert variant["revenue"] == {"USD": price_now}, "revenue is what Dodo's payment says"
    assert variant["terms"]["discount_code"] == "SAVE"


UNUSABLE = {
    "expired": ({"type": "percentage", "amount": 1000, "expires_at": iso(-1)}, "discount_expired"),
    "not-started": ({"type": "percentage", "amount": 1000, "starts_at": iso(3)}, "discount_not_started"),
    "used-up": ({"type": "percentage", "amount": 1000, "usage_limit": 5, "times_used": 5}, "discount_used_up"),
    "first-time": (
        {"type": "percentage", "amount": 1000, "customer_eligibility": "first_time"},
        "discount_first_time_only",
    ),
    "restricted": ({"type": "percentage", "amount": 1000, "restricted_to": [PRO]}, "discount_restricted"),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_an_unusable_code_makes_no_offer_by_default(stack: Stack, client: redis.Redis, case: str) -> None:
    spec, reason = UNUSABLE[case]
    start(stack, rules("BAD"), {"BAD": spec})
    assert stack.post(purchase()).json()["status"] == "queued"
    drained(client)
    assert stack.api("GET", f"/api/customers/{CUSTOMER}/offers").json()["offers"] == []
    (variant,) = stats_variants(stack)
    assert variant["discount_unavailable"] == 1 and variant["created"] == 0
    worker = stack.procs[-1]
    assert "offer_discount_unavailable" in worker.output() and reason in worker.output()
    assert charges(stack) == []


def test_an_unknown_code_with_full_price_is_offered_and_charged_at_list_price(
    stack: Stack, client: redis.Redis
) -> None:
    start(stack, rules("NOSUCH", on_unavailable="full_price"), {})
    offer = pending_offer(stack, client, purchase())
    assert offer["discount_code"] is None and offer["discount_unavailable"] == "discount_unknown"
    shown = offer["display"]
    assert shown["price_now"] == shown["price"] == 900 and shown["discount"] is None
    assert shown["discount_unavailable"] == "discount_unknown"
    assert stack.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202
    converted = offer_state(stack, offer["offer_id"], "converted")
    (charge,) = charges(stack)
    assert "discount_codes" not in charge["body"] and "discount_code" not in charge["body"]
    assert emulator_payment(stack, converted["payment_id"])["total_amount"] == 900


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"expires_at": iso(-0.001)}, "discount_expired"),
        ({"usage_limit": 3, "times_used": 3}, "discount_used_up"),
        ({"restricted_to": [BASIC]}, "discount_restricted"),
    ],
    ids=["expired", "used-up", "restricted"],
)
def test_a_code_that_becomes_unusable_before_the_accept_is_never_charged(
    stack: Stack, client: redis.Redis, change: dict[str, Any], reason: str
) -> None:
    spec = {"type": "percentage", "amount": 2000}
    start(stack, rules("LATE"), {"LATE": spec})
    offer = pending_offer(stack, client, purchase())
    assert offer["display"]["price_now"] == 720
    stack.dodo_control("seed", {"discounts": {"LATE": spec | change}})
    assert stack.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202
    failed = offer_state(stack, offer["offer_id"], "failed")
    assert failed["error_code"] == reason and failed["checkout_url"] is None
    drained(client)
    assert stack.dodo_requests("POST", "/checkouts") == [], "neither a charge nor a checkout at another price"


def test_a_code_dodo_refuses_at_the_charge_fails_the_offer_and_charges_nothing(
    stack: Stack, client: redis.Redis
) -> None:
    """Once per customer: a limit the worker cannot see (the SDK says nothing of a customer's uses).
    The add-on is bought with the code; its payment offers the basic plan with the same code, which
    passes the worker's check; Dodo refuses the code, and nothing is charged."""
    text = rules("ONCE") + (
        f"  - id: then-basic\n    on: payment.succeeded\n    when: {{product: [{ADDON}]}}\n"
        f"    offer: {{type: one_click, product: {BASIC}, discount_code: ONCE}}\n"
    )
    text = text.replace(
        "on: payment.succeeded\n    offer", f"on: payment.succeeded\n    when: {{product: [{COURSE}]}}\n    offer", 1
    )
    start(stack, text, {"ONCE": {"type": "percentage", "amount": 1000, "per_customer_usage_limit": 1}})
    first = pending_offer(stack, client, purchase())
    stack.api("POST", f"/api/offers/{first['offer_id']}/accept")
    offer_state(stack, first["offer_id"], "converted")
    second = pending_offer(
        stack, client, {"data": {"customer": {"customer_id": CUSTOMER}}}, rule="then-basic", post=False
    )
    assert second["display"]["price_now"] == 900, "the worker sees a usable code"
    stack.api("POST", f"/api/offers/{second['offer_id']}/accept")
    failed = offer_state(stack, second["offer_id"], "failed")
    assert failed["error_code"] == "dodo_http_422" and failed["checkout_url"] is None
    drained(client)
    asked = [r for r in charges(stack) if r["body"]["metadata"]["upsell_offer_id"] == second["offer_id"]]
    assert len(asked) == 1, "one attempt, refused"
    assert failed["payment_id"] is None


PLAN_RULES = f"""rules:
  - id: go-pro
    on: subscription.active
    when: {{product: [{BASIC}]}}
    offer: {{type: upgrade, product: {PRO}, proration: difference_immediately, discount_code: PRO20}}
"""


def test_a_plan_change_with_a_discount_charges_its_preview(stack: Stack, client: redis.Redis) -> None:
    from tests.conftest import fixture
    from tests.test_money import seed_subscription

    start(stack, PLAN_RULES, {"PRO20": {"type": "percentage", "amount": 2000}})
    seed_subscription(stack)
    offer = pending_offer(stack, client, fixture("subscription.active"), rule="go-pro")
    quoted = wait_until(lambda: stack.api("GET", f"/api/offers/{offer['offer_id']}").json()["quote"], what="quote")
    assert quoted["total_amount"] == 3000 * 8 // 10 - 1000, "the new plan at 20 % off, less the old plan"
    shown = stack.api("GET", f"/api/offers/{offer['offer_id']}").json()["display"]
    assert shown["price_now"] == quoted["total_amount"] and shown["discount"]["code"] == "PRO20"
    stack.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    converted = offer_state(stack, offer["offer_id"], "converted")
    assert emulator_payment(stack, converted["payment_id"])["total_amount"] == quoted["total_amount"]
    drained(client)
    (variant,) = stats_variants(stack, "go-pro")
    assert variant["revenue"] == {"USD": quoted["total_amount"]}


def test_an_edited_discount_starts_a_new_variant_in_the_stats(stack: Stack, client: redis.Redis) -> None:
    codes = {"ADDON10": {"type": "percentage", "amount": 1000}, "ADDON15": {"type": "percentage", "amount": 1500}}
    start(stack, rules("ADDON10"), codes)
    before = pending_offer(stack, client, purchase("cus_before"))
    (stack.rules_dir / "upsell.yaml").write_text(rules("ADDON15"))
    wait_until(lambda: "rules_reloaded" in stack.procs[-1].output(), what="the worker reloads the edit")
    after = pending_offer(stack, client, purchase("cus_after"))
    assert before["variant"] == after["variant"] == "default" and before["variant_id"] != after["variant_id"]
    assert (before["display"]["price_now"], after["display"]["price_now"]) == (810, 765)
    drained(client)
    found = {v["variant_id"]: v for v in stats_variants(stack)}
    assert {v["terms"]["discount_code"] for v in found.values()} == {"ADDON10", "ADDON15"}
    assert all(v["created"] == 1 for v in found.values()), "never pooled"
    table = subprocess.run(
        [sys.executable, "-m", "worker", "stats", "--since", "1d"], env=stack.env(), capture_output=True, text=True
    ).stdout
    assert "discount_code ADDON10" in table and "discount_code ADDON15" in table


def test_rules_check_warns_about_codes_that_cannot_apply(stack: Stack) -> None:
    codes = {
        "OLD": UNUSABLE["expired"][0],
        "NEWBIE": UNUSABLE["first-time"][0],
        "PROONLY": UNUSABLE["restricted"][0],
        "GOOD": {"type": "percentage", "amount": 1000},
    }
    text = "rules:\n" + "".join(
        f"  - id: r-{code.lower()}\n    on: payment.succeeded\n"
        f"    offer: {{type: one_click, product: {ADDON}, discount_code: {code}}}\n"
        for code in [*codes, "MISSING"]
    )
    (stack.rules_dir / "upsell.yaml").write_text(text)
    stack.emulator()
    stack.dodo_control("seed", {"discounts": codes})
    argv = [sys.executable, "-m", "worker", "rules", "check", str(stack.rules_dir)]
    done = subprocess.run(argv, env=stack.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    warned = done.stderr.splitlines()
    path = stack.rules_dir / "upsell.yaml"
    expected = {
        "OLD": "expired at",
        "NEWBIE": "first-time",
        "PROONLY": "restricted to",
        "MISSING": "not a code Dodo knows",
    }
    for code, said in expected.items():
        line = text.splitlines().index(next(x for x in text.splitlines() if f"discount_code: {code}}}" in x)) + 1
        assert any(
            w.startswith(f"warning: {path}:{line}: rule 'r-{code.lower()}': discount {code}") and said in w
            for w in warned
        ), (code, warned)
    assert not any("GOOD" in w for w in warned)
    env = {k: v for k, v in stack.env().items() if not k.startswith("DODO_PAYMENTS_API_KEY")}
    unchecked = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert unchecked.returncode == 0 and "not checked with Dodo" in unchecked.stderr


def test_revenue_is_net_of_the_tax_dodo_reports() -> None:
    from dodopayments.types import Payment

    from tests.conftest import fixture

    data = fixture("payment.succeeded")["data"] | {"total_amount": 1200, "tax": 200}
    assert net_amount(Payment.model_validate(data)) == 1000
    assert net_amount(Payment.model_validate(data | {"tax": None})) == 1200


def test_a_code_window_is_judged_on_the_moved_clock_across_days(stack: Stack, client: redis.Redis) -> None:
    """A code ending in 2 days: offered now at its price; 2 days and an hour later (every process's
    clock moved) the pending offer's accept is refused with `discount_expired` and charges nothing,
    and a new purchase makes no offer."""
    from tests.test_days import restart

    (stack.rules_dir / "upsell.yaml").write_text(rules("ENDS") + "    expires_in: 7d\n")
    start(
        stack,
        stack.rules_dir.joinpath("upsell.yaml").read_text(),
        {"ENDS": {"type": "percentage", "amount": 1000, "expires_at": iso(2)}},
    )
    offer = pending_offer(stack, client, purchase())
    assert offer["display"]["price_now"] == 810 and offer["display"]["discount"]["ends_at"]
    restart(stack, 2 * 86400 + 3600)
    assert stack.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202
    assert offer_state(stack, offer["offer_id"], "failed")["error_code"] == "discount_expired"
    assert stack.post(purchase("cus_later"), shift=2 * 86400 + 3600).json()["status"] == "queued"
    drained(client)
    assert stack.api("GET", "/api/customers/cus_later/offers").json()["offers"] == []
    assert stack.dodo_requests("POST", "/checkouts") == []


def test_a_code_that_starts_in_days_is_charged_once_the_clock_reaches_it(stack: Stack, client: redis.Redis) -> None:
    """Every process (the emulator too) runs 3 days and an hour ahead: a code starting in 3 days is
    live for the worker and for Dodo alike, shown and charged at its price."""
    from worker import testclock

    shift = 3 * 86400 + 3600
    stack.extra_env[testclock.VARIABLE] = repr(shift)
    start(stack, rules("SOON"), {"SOON": {"type": "percentage", "amount": 1000, "starts_at": iso(3)}})
    assert stack.post(purchase(), shift=shift).json()["status"] == "queued"
    offer = pending_offer(stack, client, {"data": {"customer": {"customer_id": CUSTOMER}}}, post=False)
    assert offer["display"]["price_now"] == 810
    stack.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    converted = offer_state(stack, offer["offer_id"], "converted")
    assert emulator_payment(stack, converted["payment_id"])["total_amount"] == 810


def test_the_backtest_prices_offers_as_dodo_would_and_skips_unusable_codes(stack: Stack, client: redis.Redis) -> None:
    from tests.test_backtest import run_backtest

    start(stack, "rules: []\n", {"ADDON10": {"type": "percentage", "amount": 1000}, "GONE": UNUSABLE["expired"][0]})
    for n in range(3):
        assert stack.post(purchase(f"cus_bt{n}")).json()["status"] == "queued"
    drained(client)
    draft = stack.tmp / "draft"
    draft.mkdir()
    (draft / "access.yaml").write_text((stack.rules_dir / "access.yaml").read_text())
    (draft / "upsell.yaml").write_text(
        rules("ADDON10") + rules("GONE").replace("rules:\n", "").replace("id: addon", "id: gone")
    )
    done = run_backtest(stack, draft, "--since", "1d", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["prices"] == "from Dodo"
    found = {r["rule_id"]: r for r in result["rules"]}
    assert found["addon"]["would_create"] == 3
    assert all(o["display"]["price_now"] == 810 and o["discount_code"] == "ADDON10" for o in found["addon"]["offers"])
    assert found["gone"]["would_create"] == 0 and found["gone"]["discount_unavailable"] == 3
    unpriced = {k: v for k, v in stack.env().items() if k != "DODO_PAYMENTS_API_KEY"}
    argv = [sys.executable, "-m", "worker", "rules", "backtest", str(draft), "--since", "1d", "--json"]
    plain = json.loads(subprocess.run(argv, env=unpriced, capture_output=True, text=True, timeout=120).stdout)
    assert plain["prices"].startswith("not checked")
    assert {r["rule_id"]: r["would_create"] for r in plain["rules"]} == {"addon": 3, "gone": 3}
