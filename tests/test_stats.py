"""What the rules earn: counters per rule, variant and day, net of refunds, counted once."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import date

import pytest
import redis

from tests.conftest import Stack, drained, fixture, read_events, wait_until
from tests.test_charges import ADDON, CUSTOMER, RULES, offer_state, pending_offer, purchase
from worker import keys
from worker.stats import counters, report


@pytest.fixture
def shop(stack: Stack) -> Stack:
    shadow = (
        RULES
        + f"""  - id: shadow-addon
    on: payment.succeeded
    mode: shadow
    offer: {{type: cross_sell, product: {ADDON}}}
    limit: {{once_per_customer: true}}
"""
    )
    (stack.rules_dir / "upsell.yaml").write_text(shadow)
    stack.emulator()
    stack.web()
    stack.worker()
    return stack


def refund_of(payment_id: str, amount: int, customer: str = CUSTOMER) -> dict[str, object]:
    body = copy.deepcopy(fixture("refund.succeeded"))
    body["data"].update(payment_id=payment_id, amount=amount, currency="USD", is_partial=False)
    body["data"]["customer"]["customer_id"] = customer
    return body


def stats_of(stack: Stack, rule: str) -> dict[str, object]:
    """The rule's one variant over yesterday and today ({} while nothing is counted)."""
    found = stack.api("GET", "/api/stats", params={"since": "1d", "rule": rule}).json()["rules"]
    return found[0]["variants"][0] if found else {}


def test_purchase_offer_accept_convert_refund_nets_to_zero_and_counts_once(shop: Stack, client: redis.Redis) -> None:
    offer = pending_offer(shop, client, purchase())
    shop.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    converted = offer_state(shop, offer["offer_id"], "converted")
    payment = copy.deepcopy(fixture("payment.succeeded"))  # Dodo sends the conversion again, new id
    payment["data"].update(
        payment_id=converted["payment_id"], total_amount=900, metadata={"upsell_offer_id": offer["offer_id"]}
    )
    payment["data"]["product_cart"] = [{"product_id": ADDON, "quantity": 1}]
    for _ in range(3):
        assert shop.post(payment).json()["status"] == "queued"
    refund = refund_of(converted["payment_id"], 900)
    for _ in range(3):  # one refund, delivered three times under one webhook-id, and once more by Dramatiq
        shop.post(refund, webhook_id="msg_refund_once")
    wait_until(lambda: stats_of(shop, "addon").get("refunded") == {"USD": 900}, what="refund counted")
    with client.pipeline() as pipe:  # a redelivered refund message: the worker runs it again
        from worker.queue import messages

        messages.push(pipe, messages.webhook("refund.succeeded", "msg_refund_once", json.dumps(refund)))
        pipe.execute()
    drained(client)
    figures = stats_of(shop, "addon")
    assert (figures["created"], figures["accepted"], figures["converted"]) == (1, 1, 1)
    assert figures["revenue"] == {"USD": 900} and figures["refunded"] == {"USD": 900} and figures["net"] == {"USD": 0}
    assert figures["conversion"] == 1.0

    done = subprocess.run(
        [sys.executable, "-m", "worker", "stats", "--json", "--rule", "addon"],
        env=shop.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(done.stdout)["rules"][0]["variants"][0]["net"] == {"USD": 0}, done.stderr


def test_shadow_rules_count_and_emit_nothing(shop: Stack, client: redis.Redis) -> None:
    for _ in range(2):
        assert shop.post(purchase("cus_shadowed")).json()["status"] == "queued"
    wait_until(lambda: stats_of(shop, "shadow-addon").get("would_create") == 1, what="shadow counted")
    drained(client)
    offers = [e["data"] for e in read_events(client) if e["type"].startswith("offer.")]
    assert all(o["rule_id"] != "shadow-addon" for o in offers) and offers, offers
    shown = shop.api("GET", "/api/customers/cus_shadowed/offers").json()["offers"]
    assert {o["rule_id"] for o in shown} == {"addon"}
    figures = stats_of(shop, "shadow-addon")
    assert (figures["would_create"], figures["created"]) == (1, 0)


def test_wilson_intervals_keep_small_samples_from_winning() -> None:
    small = report.wilson(2, 3)
    large = report.wilson(600, 1000)
    assert small[0] < 0.25 and small[1] > 0.9 and 0.56 < large[0] < large[1] < 0.64
    variants = [
        {"variant": "a", "variant_id": "a", "conversion_95": list(report.wilson(3, 4))},
        {"variant": "b", "variant_id": "b", "conversion_95": list(report.wilson(1, 4))},
    ]
    assert report._verdict(variants).startswith("no clear winner")
    variants = [
        {"variant": "a", "variant_id": "a", "conversion_95": list(report.wilson(600, 1000))},
        {"variant": "b", "variant_id": "b", "conversion_95": list(report.wilson(300, 1000))},
    ]
    assert report._verdict(variants).startswith("a converts best")


def test_report_reads_only_the_days_asked(client: redis.Redis) -> None:
    client.hset(keys.stats("2026-01-01"), counters.SEP.join(("r", "default", "created")), 5)
    client.hset(keys.stats("2026-01-03"), counters.SEP.join(("r", "default", "created")), 7)
    client.hset(keys.stats("2026-01-03"), counters.SEP.join(("r", "default", "revenue:USD")), 1200)
    result = report.report(client, date(2026, 1, 2), date(2026, 1, 3))
    (variant,) = result["rules"][0]["variants"]
    assert variant["created"] == 7 and variant["revenue"] == {"USD": 1200} and variant["net"] == {"USD": 1200}
    client.hset(keys.stats("2026-01-03"), counters.SEP.join(("r", "default", "converted")), 9)  # offers of earlier days
    (variant,) = report.report(client, date(2026, 1, 3), date(2026, 1, 3))["rules"][0]["variants"]
    assert variant["conversion_95"][1] == 1.0
    with pytest.raises(ValueError):
        report.parse_moment("last week")


def test_a_dispute_on_a_converted_offer_counts_once_as_its_guardrail(shop: Stack, client: redis.Redis) -> None:
    offer = pending_offer(shop, client, purchase())
    shop.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    converted = offer_state(shop, offer["offer_id"], "converted")
    dispute = copy.deepcopy(fixture("dispute.opened"))
    dispute["data"]["payment_id"] = converted["payment_id"]
    for _ in range(2):  # Dodo's retry under a new webhook-id counts nothing more
        assert shop.post(dispute).json()["status"] == "queued"
    drained(client)
    rails = stats_of(shop, "addon")["guardrails"]
    assert rails["disputed"]["count"] == 1 and rails["disputed"]["rate"] == 1.0
    assert rails["refunds"]["count"] == 0


class _Offer:
    def __init__(self, rule_id: str, variant: str, n: int) -> None:
        self.rule_id, self.variant, self.customer_id, self.offer_id = rule_id, variant, f"cus_{n}", f"off_{variant}_{n}"
        self.variant_id: str | None = None


@pytest.mark.parametrize(("refunded_b", "flagged"), [(12, True), (2, False)])
def test_a_variant_refunded_beyond_the_others_is_flagged(client: redis.Redis, refunded_b: int, flagged: bool) -> None:
    """20 conversions per variant; `a` has 1 refund, `b` `refunded_b`: flagged only when the intervals part."""
    for variant, refunds in (("a", 1), ("b", refunded_b)):
        for n in range(20):
            offer = _Offer("guarded", variant, n)
            with client.pipeline() as pipe:
                counters.count(pipe, offer, "converted")
                pipe.execute()
            if n < refunds:
                counters.refund(client, f"ref_{variant}_{n}", f"pay_{variant}_{n}", offer, 500, "USD", 900)
    found = report.report(client, date.today(), date.today(), "guarded")["rules"][0]
    rates = {v["variant"]: v["guardrails"]["refunds"]["count"] for v in found["variants"]}
    assert rates == {"a": 1, "b": refunded_b}
    assert bool(found["flags"]) is flagged, found["flags"]
    if flagged:
        assert found["flags"] == ["b: refund rate 60% is worse than the other variants'"]
