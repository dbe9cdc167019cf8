"""What the app does: its own events as triggers, and asking eligibility before offering."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import HTTP, ROOT, TOKEN, Stack, drained, fixture, read_events, wait_until
from tests.test_lifecycle import event, now
from worker import keys
from worker.access.config import AccessConfig
from worker.rules import match
from worker.rules.model import Rule

PRO, BASIC, ADDON = "pdt_PRO0planUpgrade9xQ", "pdt_RUST4raxbl0Rfe4VQi1z", "pdt_ADDON0priority7Kq"
CUSTOMER = "cus_8VbC6JDZzPEqfBPUdpj0K"  # the emulator's customer with a saved card
NEAR_LIMIT = {
    "type": "app.usage_threshold",
    "data": {"metric": "projects", "percent_used": 85, "subscription_id": "sub_7EeHq2ewQuadropD2ra"},
}


@pytest.fixture
def app_stack(stack: Stack) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text((ROOT / "rules" / "upsell.yaml").read_text())
    stack.emulator()
    stack.web()
    stack.worker()
    return stack


def post_event(
    stack: Stack, customer: str, event: dict[str, Any] | bytes, key: str | None, token: str | None = TOKEN
) -> Any:
    headers = {"idempotency-key": key} if key is not None else {}
    headers |= {"authorization": f"Bearer {token}"} if token else {}
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return HTTP.post(f"{stack.base_url}/api/customers/{customer}/events", content=body, headers=headers, timeout=15)


def test_app_event_makes_one_upgrade_offer_under_a_duplicate_storm(app_stack: Stack, client: redis.Redis) -> None:
    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda _: post_event(app_stack, CUSTOMER, NEAR_LIMIT, "usage-85-2026-11"), range(30)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 29 + [202], statuses
    assert {a.json()["event_id"] for a in answers} == {answers[0].json()["event_id"]}
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 29 + ["queued"]
    event_id = answers[0].json()["event_id"]
    wait_until(lambda: client.exists(keys.processed(event_id)), what="app event processed")
    drained(client)
    (offer,) = [e["data"] for e in read_events(client) if e["type"] == "offer.created"]
    assert offer["rule_id"] == "near-limit-upgrade" and offer["type"] == "upgrade" and offer["product_id"] == PRO
    assert offer["subscription_id"] == "sub_7EeHq2ewQuadropD2ra" and offer["source"] == event_id

    below = {**NEAR_LIMIT, "data": {**NEAR_LIMIT["data"], "percent_used": 50}}
    assert post_event(app_stack, "cus_other_app", below, "usage-50").status_code == 202
    assert post_event(app_stack, "cus_other_app", {**below, "type": "app.onboarding_done"}, "done").status_code == 202
    wait_until(lambda: client.exists(keys.processed("app_" + _id("cus_other_app", "done"))), what="processed")
    drained(client)
    assert [e["data"]["customer_id"] for e in read_events(client) if e["type"] == "offer.created"] == [CUSTOMER]


def _id(customer: str, key: str) -> str:
    from worker import events

    return events.stable_id(customer, key).replace("-", "")


@pytest.mark.parametrize(
    ("event", "key", "status", "error"),
    [
        (NEAR_LIMIT, None, 400, "Idempotency-Key"),
        (NEAR_LIMIT, "x" * 201, 400, "Idempotency-Key"),
        ({"type": "usage_threshold"}, "k", 400, "app.<name>"),
        ({"type": "app.x", "data": [1]}, "k", 400, "data must be an object"),
        (b"{not json", "k", 400, "not JSON"),
        (json.dumps({"type": "app.big", "data": {"pad": "x" * 70_000}}).encode(), "k", 413, "64 KiB"),
    ],
)
def test_app_event_input_errors_change_nothing(
    app_stack: Stack, client: redis.Redis, event: Any, key: str | None, status: int, error: str
) -> None:
    answer = post_event(app_stack, CUSTOMER, event, key)
    assert answer.status_code == status and error in answer.json()["error"], answer.text
    assert client.llen(keys.queue(keys.WEBHOOK_QUEUE)) == 0 and not client.keys("upsell:seen:app:*")


def test_app_events_need_the_token(app_stack: Stack) -> None:
    assert post_event(app_stack, CUSTOMER, NEAR_LIMIT, "k", token=None).status_code == 401
    assert post_event(app_stack, CUSTOMER, NEAR_LIMIT, "k", token="wrong").status_code == 401


def test_eligibility_for_access_held_suppressed_and_ok(app_stack: Stack, client: redis.Redis) -> None:
    def ask(customer: str, product: str) -> dict[str, Any]:
        return app_stack.api("GET", f"/api/customers/{customer}/eligibility", params={"product_id": product}).json()

    assert ask(CUSTOMER, ADDON) == {"customer_id": CUSTOMER, "product_id": ADDON, "eligible": True, "reason": "ok"}
    assert app_stack.post(fixture("subscription.active")).json()["status"] == "queued"
    wait_until(lambda: ask(CUSTOMER, BASIC)["reason"] == "already_has_access", 40, what="basic held")
    assert ask(CUSTOMER, PRO)["eligible"] is True
    assert app_stack.post(fixture("payment.succeeded"), webhook_id="msg_paid").json()["status"] == "queued"
    # A dispute comes days after its payment: posted together, the worker's threads may take the
    # dispute first, find the payment neither indexed nor known to the emulator, and dead-letter it.
    wait_until(lambda: client.exists(keys.processed("msg_paid")), 40, what="the payment processed")
    assert app_stack.post(event("dispute.opened", now(5))).json()["status"] == "queued"
    wait_until(lambda: ask(CUSTOMER, PRO)["reason"] == "suppressed", 40, what="suppressed by the open dispute")
    assert app_stack.api("GET", f"/api/customers/{CUSTOMER}/eligibility").status_code == 400


FIELDS_RULE = Rule.model_validate(
    {
        "id": "r",
        "on": "app.usage_threshold",
        "when": {"fields": {"metric": ["projects", "seats"], "plan": "team", "min_percent_used": 80, "max_seats": 50}},
        "offer": {"type": "one_click", "product": ADDON},
    }
)
CONFIG = AccessConfig.model_validate({"tiers": [], "products": {}})
MATCHING = {"metric": "projects", "plan": "team", "percent_used": 80, "seats": 50}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, None),
        ({"metric": "seats", "percent_used": 99.5}, None),
        ({"metric": "storage"}, "fields.metric: 'storage' not in"),
        ({"plan": None}, "fields.plan: None not in"),
        ({"percent_used": 79}, "fields.min_percent_used: percent_used 79 < 80"),
        ({"percent_used": "90"}, "fields.min_percent_used: percent_used is '90', not a number"),
        ({"seats": 51}, "fields.max_seats: seats 51 > 50"),
        ({"seats": True}, "fields.max_seats: seats is True, not a number"),
    ],
)
def test_when_fields_match_and_mismatch(change: dict[str, Any], reason: str | None) -> None:
    facts = match.Facts("app.usage_threshold", "c", fields={**MATCHING, **change})
    why = match.mismatches(FIELDS_RULE, facts, CONFIG, None, [])
    assert (why == []) if reason is None else (len(why) == 1 and why[0].startswith(reason)), why


def test_fields_need_an_app_trigger_and_explain_shows_app_events(tmp_path: Path) -> None:
    from worker import book
    from worker.folder import yamlsource
    from worker.replay import explain

    (tmp_path / "access.yaml").write_text((ROOT / "rules" / "access.yaml").read_text())
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: bad\n    on: payment.succeeded\n    when: {fields: {a: 1}}\n"
        f"    offer: {{type: one_click, product: {ADDON}}}\n"
        "  - id: bad-min\n    on: app.x\n    when: {fields: {min_a: lots}}\n"
        f"    offer: {{type: one_click, product: {ADDON}}}\n"
    )
    with pytest.raises(yamlsource.ProblemsFound) as found:
        book.load_dir(tmp_path)
    assert "rule 'bad': `when.fields` tests an event's data; payment.succeeded has none to test" in str(found.value)
    assert "rule 'bad-min': when.fields: Value error, fields.min_a: a number is needed" in str(found.value) or (
        "fields.min_a: a number is needed" in str(found.value)
    )
    (tmp_path / "r.yaml").write_text((ROOT / "rules" / "upsell.yaml").read_text())
    event = tmp_path / "event.json"
    event.write_text(json.dumps({**NEAR_LIMIT, "customer_id": "cus_1"}))
    verdicts = explain.explain(book.load_dir(tmp_path), event, {"tier": "basic"})
    (rule,) = [v for v in verdicts["rules"] if v["rule_id"] == "near-limit-upgrade"]
    assert rule["matched"] and verdicts["facts"]["fields"]["percent_used"] == 85
    verdicts = explain.explain(book.load_dir(tmp_path), event, {"tier": "pro"})
    (rule,) = [v for v in verdicts["rules"] if v["rule_id"] == "near-limit-upgrade"]
    assert not rule["matched"] and rule["reasons"] == ["lacks: customer has pro"]
