"""Dodo's other webhook types through the real pipeline: dunning, abandoned checkouts, credits,
license keys and entitlement grants as rule triggers with conditions over their data; a payment
still processing or cancelled settling an offer's charge; grace as Dodo states it."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from tests.conftest import HTTP, Stack, drained, fixture, read_events, wait_until
from tests.test_offers import ADDON, COURSE
from worker import keys
from worker.queue import deadletters

RULES = f"""rules:
  - id: save
    on: dunning.started
    when: {{fields: {{trigger_state: [past_due]}}}}
    offer: {{type: cross_sell, product: {ADDON}}}
  - id: recover
    on: abandoned_checkout.detected
    when: {{fields: {{abandonment_reason: [checkout_incomplete]}}}}
    offer: {{type: cross_sell, product: {COURSE}}}
  - id: top-up
    on: credit.balance_low
    when: {{fields: {{credit_entitlement_name: [api_calls], max_threshold_percent: 20}}}}
    offer: {{type: cross_sell, product: {ADDON}}}
  - id: after-key
    on: license_key.created
    offer: {{type: cross_sell, product: {ADDON}}}
"""


def event(kind: str, customer: str, **data: Any) -> dict[str, Any]:
    """The type's sample for another customer (a fresh one per case), with `data` overridden."""
    payload = copy.deepcopy(fixture(kind))
    payload["data"].update(customer_id=customer, **data)
    payload["timestamp"] = datetime.now(UTC).isoformat()
    return payload


def customer() -> str:
    return f"cus_trig_{time.monotonic_ns()}"


@pytest.fixture
def triggers(stack: Stack) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.web()
    stack.worker()
    return stack


def offers_of(stack: Stack, customer_id: str) -> list[dict[str, Any]]:
    return stack.api("GET", f"/api/customers/{customer_id}/offers").json()["offers"]


def test_rules_test_the_data_of_dodos_other_types(triggers: Stack, client: redis.Redis) -> None:
    cases = [
        ("dunning.started", {"trigger_state": "past_due"}, "save"),
        ("dunning.started", {"trigger_state": "on_hold"}, None),
        ("abandoned_checkout.detected", {"abandonment_reason": "checkout_incomplete"}, "recover"),
        ("abandoned_checkout.detected", {"abandonment_reason": "payment_failed"}, None),
        ("credit.balance_low", {"threshold_percent": 10}, "top-up"),
        ("credit.balance_low", {"threshold_percent": 25}, None),
        ("credit.balance_low", {"threshold_percent": 10, "credit_entitlement_name": "storage_gb"}, None),
    ]
    who = []
    for kind, data, _ in cases:
        who.append(customer())
        assert triggers.post(event(kind, who[-1], **data)).json()["status"] == "queued"
    drained(client)
    for (kind, data, rule), customer_id in zip(cases, who, strict=True):
        made = [o["rule_id"] for o in offers_of(triggers, customer_id)]
        assert made == ([rule] if rule else []), (kind, data, made)


def test_a_recovered_checkout_expires_its_recovery_offer_only(triggers: Stack, client: redis.Redis) -> None:
    who = customer()
    triggers.post(event("abandoned_checkout.detected", who, abandonment_reason="checkout_incomplete"))
    triggers.post(event("dunning.started", who, trigger_state="past_due"))
    wait_until(lambda: len(offers_of(triggers, who)) == 2, what="the recovery and the save offer")
    triggers.post(event("abandoned_checkout.recovered", who, abandonment_reason="checkout_incomplete"))
    wait_until(
        lambda: (
            {o["rule_id"]: o["state"] for o in offers_of(triggers, who)} == {"recover": "expired", "save": "pending"}
        )
    )
    expired = [e for e in read_events(client) if e["type"] == "offer.expired" and e["customer_id"] == who]
    assert len(expired) == 1


def test_a_license_key_reaches_rules_but_never_logs_events_or_the_api(triggers: Stack, client: redis.Redis) -> None:
    who, key = customer(), f"SECRET-KEY-{time.monotonic_ns()}"
    triggers.post(event("license_key.created", who, key=key))
    wait_until(lambda: offers_of(triggers, who), what="the offer after the key")
    drained(client)
    assert key not in str(read_events(client))
    assert key not in triggers.api("GET", f"/api/customers/{who}/offers").text
    assert all(key not in proc.output() for proc in triggers.procs)


def test_dodos_entitlement_grants_map_to_features(stack: Stack, client: redis.Redis) -> None:
    access = stack.rules_dir / "access.yaml"
    access.write_text(access.read_text() + "entitlements:\n  ent_CommunityDiscord1: {features: [community]}\n")
    stack.web()
    stack.worker()
    who = customer()

    def features() -> list[str]:
        return stack.api("GET", f"/api/customers/{who}/access").json()["features"]

    stack.post(event("entitlement_grant.failed", who))
    stack.post(event("entitlement_grant.delivered", who, id="egr_one"))
    wait_until(lambda: features() == ["community"])
    other = event("entitlement_grant.delivered", who, id="egr_two", entitlement_id="ent_unmapped")
    stack.post(other)
    revoked = event("entitlement_grant.revoked", who, id="egr_one")
    stack.post(revoked)
    wait_until(lambda: features() == [])
    drained(client)
    kinds = [e["type"] for e in read_events(client) if e["customer_id"] == who]
    assert kinds == ["access.granted", "access.revoked"]


@pytest.mark.parametrize(("deadline_days", "expected_days"), [(5, 5), (None, 3)])
def test_grace_dodo_ends_at_dodos_deadline_or_after_3_days(
    stack: Stack, client: redis.Redis, deadline_days: int | None, expected_days: int
) -> None:
    access = stack.rules_dir / "access.yaml"
    access.write_text(access.read_text().replace("grace: 3d ", "grace: dodo "))
    stack.web()
    stack.worker()
    active = copy.deepcopy(fixture("subscription.active"))
    stack.post(active)
    held = copy.deepcopy(fixture("subscription.on_hold"))
    now = datetime.now(UTC)
    held["timestamp"] = now.isoformat()
    deadline = now + timedelta(days=deadline_days) if deadline_days else None
    held["data"]["past_due_ends_at"] = deadline.isoformat() if deadline else None
    wait_until(
        lambda: stack.api("GET", f"/api/customers/{active['data']['customer']['customer_id']}/access").json()["grants"]
    )
    stack.post(held)
    customer_id = held["data"]["customer"]["customer_id"]

    def ends() -> str | None:
        grants = stack.api("GET", f"/api/customers/{customer_id}/access").json()["grants"]
        return grants[0]["ends_at"] if grants else None

    wait_until(ends)
    ending = datetime.fromisoformat(str(ends()).replace("Z", "+00:00"))
    assert abs((ending - now).total_seconds() - expected_days * 86400) < 5


def test_a_card_update_marks_the_customers_one_click_answer_stale(triggers: Stack, client: redis.Redis) -> None:
    updated = copy.deepcopy(fixture("subscription.update_payment_method"))
    updated["timestamp"] = datetime.now(UTC).isoformat()
    who = updated["data"]["customer"]["customer_id"]
    assert triggers.post(updated).json()["status"] == "queued"
    mark = wait_until(lambda: client.get(keys.methods_changed(who)))
    assert abs(float(mark) - datetime.fromisoformat(updated["timestamp"]).timestamp()) < 1


def test_a_payment_still_processing_keeps_the_charge_and_a_cancelled_one_fails_it(
    stack: Stack, client: redis.Redis
) -> None:
    from tests.test_charges import CUSTOMER, offer_state, pending_offer, purchase
    from tests.test_money import start

    start(stack, webhooks=False)
    pending = pending_offer(stack, client, purchase())
    stack.dodo_control("faults", {"method": "POST", "path": "/checkouts", "status": 504})
    assert stack.api("POST", f"/api/offers/{pending['offer_id']}/accept").status_code == 202
    wait_until(lambda: "charge_outcome_unknown" in stack.procs[-1].output(), what="the unknown outcome")
    for kind in ("payment.processing", "payment.cancelled"):
        payment = copy.deepcopy(fixture(kind))
        payment["data"]["customer"]["customer_id"] = CUSTOMER
        payment["data"]["metadata"] = {"upsell_offer_id": pending["offer_id"]}
        payment["timestamp"] = datetime.now(UTC).isoformat()
        assert stack.post(payment).json()["status"] == "queued"
        if kind == "payment.processing":
            drained(client)
            assert stack.api("GET", f"/api/offers/{pending['offer_id']}").json()["state"] == "charging"
    failed = offer_state(stack, pending["offer_id"], "failed")
    assert failed["checkout_url"], "the money did not move: the fallback checkout is offered"


def test_when_fields_on_a_dodo_trigger_names_only_its_data() -> None:
    from worker.rules.model import Rule

    base = {"id": "r", "offer": {"type": "cross_sell", "product": "p"}}
    Rule.model_validate({**base, "on": "dunning.started", "when": {"fields": {"trigger_state": ["past_due"]}}})
    Rule.model_validate({**base, "on": "credit.balance_low", "when": {"fields": {"min_threshold_percent": 5}}})
    for on, fields, said in (
        ("dunning.started", {"colour": ["red"]}, "dunning.started has no field 'colour'; it has trigger_state, status"),
        ("payment.succeeded", {"status": ["x"]}, "payment.succeeded has none to test"),
        ("license_key.created", {"key": ["x"]}, "license_key.created has no field 'key'"),
    ):
        with pytest.raises(ValueError, match=said):
            Rule.model_validate({**base, "on": on, "when": {"fields": fields}})


def test_a_one_click_answer_cached_before_a_card_change_is_asked_again() -> None:
    from worker.products import TtlCache

    cache, loads = TtlCache(30), []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get("cus", load) == 1
    assert cache.get("cus", load, changed_at=time.time() - 60) == 1, "changed before it was cached"
    assert cache.get("cus", load, changed_at=time.time() + 1) == 2, "changed after: asked again"


LIMITS = """limits: {seats: sum}
"""


def _with_limits(stack: Stack) -> None:
    """The basic plan gives 5 seats and 3 projects, the add-on 2 seats (summed) and 10 projects (highest)."""
    access = stack.rules_dir / "access.yaml"
    text = access.read_text()
    text = text.replace(
        "{tier: basic, features: [reports]}", "{tier: basic, features: [reports], limits: {seats: 5, projects: 3}}"
    )
    text = text.replace(
        "{features: [priority_support]}", "{features: [priority_support], limits: {seats: 2, projects: 10}}"
    )
    access.write_text(LIMITS + text)


def test_limits_are_the_highest_or_the_sum_and_a_change_names_them(stack: Stack, client: redis.Redis) -> None:
    from tests.test_charges import CUSTOMER, purchase

    _with_limits(stack)
    (stack.rules_dir / "upsell.yaml").write_text(
        f"rules:\n  - id: seats\n    on: payment.succeeded\n    when: {{limit_below: {{seats: 10}}}}\n"
        f"    offer: {{type: cross_sell, product: {COURSE}}}\n"
    )
    stack.web()
    stack.worker()
    stack.post(copy.deepcopy(fixture("subscription.active")))
    wait_until(
        lambda: stack.api("GET", f"/api/customers/{CUSTOMER}/access").json()["limits"] == {"projects": 3, "seats": 5}
    )
    addon = purchase()
    addon["data"]["product_cart"] = [{"product_id": ADDON, "quantity": 1}]
    stack.post(addon)
    wait_until(
        lambda: stack.api("GET", f"/api/customers/{CUSTOMER}/access").json()["limits"] == {"projects": 10, "seats": 7}
    )
    drained(client)
    changed = [e for e in read_events(client) if e["customer_id"] == CUSTOMER and e["type"].startswith("access.")][-1]
    assert changed["type"] == "access.granted", "the add-on's own grant"
    assert changed["data"]["change"]["limits_changed"] == {
        "projects": {"from": 3, "to": 10},
        "seats": {"from": 5, "to": 7},
    }
    assert [o["rule_id"] for o in offers_of(stack, CUSTOMER)] == ["seats"], "7 seats is below 10"
    page = stack.api("GET", "/api/access").json()["items"]
    assert [i["limits"] for i in page if i["customer_id"] == CUSTOMER] == [{"projects": 10, "seats": 7}]


def ledger(who: str, entry: str, at: datetime, balance: str) -> dict[str, Any]:
    payload = event("credit.deducted", who, id=entry, balance_after=balance, created_at=at.isoformat())
    return payload


def test_a_credit_balance_is_the_newest_entrys_whatever_the_order(triggers: Stack, client: redis.Redis) -> None:
    who, t0 = customer(), datetime.now(UTC) - timedelta(hours=1)
    entries = [ledger(who, f"cle_{n}", t0 + timedelta(minutes=n), str(1000 - 100 * n)) for n in range(5)]
    for payload in [entries[3], entries[0], entries[4], entries[1], entries[4], entries[2]]:
        assert triggers.post(payload).json()["status"] in ("queued", "duplicate")
        drained(client)  # in this order (a worker's threads would otherwise race them), which the events show
    again = copy.deepcopy(entries[2])
    triggers.post(again)  # the same entry under another webhook-id changes nothing
    drained(client)
    triggers.post(event("credit.balance_low", who, credit_entitlement_id="cde_ApiCa11sCredits01"))
    drained(client)
    access = triggers.api("GET", f"/api/customers/{who}/access").json()
    assert access["credits"] == {"cde_ApiCa11sCredits01": {"name": "api_calls", "balance": 600}}
    mine = [e for e in read_events(client) if e["customer_id"] == who and e["type"].startswith("access.")]
    assert [e["type"] for e in mine] == ["access.changed"] * 3, "700, then 600; older entries change nothing"
    assert [e["data"]["credits"]["cde_ApiCa11sCredits01"]["balance"] for e in mine] == [700, 600, 600]
    assert [e["data"]["change"]["credits_changed"] for e in mine] == [
        {"cde_ApiCa11sCredits01": {"from": None, "to": 700}},
        {"cde_ApiCa11sCredits01": {"from": 700, "to": 600}},
        {},  # the name only
    ]


def test_rules_test_credit_balances_by_name(stack: Stack, client: redis.Redis) -> None:
    (stack.rules_dir / "upsell.yaml").write_text(
        f"rules:\n  - id: pack\n    on: credit.deducted\n    when: {{credits_below: {{api_calls: 100}}}}\n"
        f"    offer: {{type: cross_sell, product: {ADDON}}}\n"
    )
    stack.web()
    stack.worker()
    low, high = customer(), customer()
    for who, balance in ((low, "50"), (high, "500")):
        stack.post(event("credit.balance_low", who))
        drained(client)
        stack.post(ledger(who, f"cle_{who}", datetime.now(UTC), balance))
    drained(client)
    assert [o["rule_id"] for o in offers_of(stack, low)] == ["pack"]
    assert offers_of(stack, high) == []


def test_the_emulator_sends_each_of_the_new_types_and_each_is_processed(stack: Stack, client: redis.Redis) -> None:
    """Every type the catalog gained, sent by the emulator as Dodo would (signed, from its sample)."""
    from worker import catalog

    stack.web()
    stack.emulator()
    stack.worker()
    sent = [
        hook.name
        for hook in catalog.WEBHOOKS
        if hook.fields and not hook.name.startswith("subscription.") and not hook.name.startswith("refund.")
    ]
    for kind in sent:
        stack.dodo_control("lifecycle", {"type": kind, "data": {"customer_id": customer()}})
    wait_until(lambda: len(client.keys("upsell:processed:*")) >= len(sent), 30, what="every delivery processed")
    delivered = {d["type"]: d["statuses"] for d in stack_deliveries(stack)}
    assert set(delivered) == set(sent) and all(statuses[-1] == 200 for statuses in delivered.values())


def stack_deliveries(stack: Stack) -> list[dict[str, Any]]:

    return HTTP.get(stack.dodo_url + "/_emulator/requests", timeout=5).json()["deliveries"]


LOOSE_BALANCES = ["1e30", "-1e30", "1e308", "99999999999999999999", "1_000", " 7 ", "12.34567", "NaN", "seven", ""]


def test_a_balance_is_parsed_exactly_or_dead_lettered_with_its_field(triggers: Stack, client: redis.Redis) -> None:
    who, now = customer(), datetime.now(UTC)
    for n, loose in enumerate(LOOSE_BALANCES):
        assert triggers.post(ledger(who, f"cle_loose_{n}", now, loose)).json()["status"] == "queued"
    future = ledger(who, "cle_future", now + timedelta(days=3650), "5")
    assert triggers.post(future).json()["status"] == "queued"
    exact = ledger(who, "cle_exact", now, "1234.500")
    assert triggers.post(exact).json()["status"] == "queued"
    dead = wait_until(lambda: (found := deadletters.all_records(client)) and len(found) > len(LOOSE_BALANCES) and found)
    drained(client)
    errors = sorted(record["error"] for record in dead)
    assert sum("data.balance_after is not a decimal" in e for e in errors) == len(LOOSE_BALANCES), errors
    assert sum("data.created_at is more than a day ahead" in e for e in errors) == 1, errors
    access = triggers.api("GET", f"/api/customers/{who}/access").json()
    assert access["credits"] == {"cde_ApiCa11sCredits01": {"name": None, "balance": 1234.5}}
    mine = [e for e in read_events(client) if e["customer_id"] == who and e["type"].startswith("access.")]
    assert len(mine) == 1 and access["version"] == 1, "one change, one version: nothing else moved it"
