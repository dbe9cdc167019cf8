"""From a signed webhook to access.* events: grants, ordering, strict parsing, dead letters."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from tests.conftest import Stack, drained, fixture, read_events, wait_until
from worker import keys
from worker.queue import messages

CUSTOMER = "cus_8VbC6JDZzPEqfBPUdpj0K"


def processed(client: redis.Redis) -> int:
    return len(client.keys(keys.processed("*"))) + client.hlen(keys.DEAD_LETTERS)


def events_after(stack: Stack, client: redis.Redis, *payloads: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Deliver one at a time, each processed before the next (the order under test)."""
    for n, payload in enumerate(payloads, 1):
        assert stack.post(payload).json() == {"status": "queued"}
        wait_until(lambda: processed(client) >= n, what=f"event {n} processed")
    events = read_events(client)
    assert len(events) == count, events
    return events


def at(payload: dict[str, Any], timestamp: str) -> dict[str, Any]:
    return {**payload, "timestamp": timestamp}


def test_each_fixture_gives_its_access_event(running: Stack, client: redis.Redis) -> None:
    active, changed, paid = events_after(
        running,
        client,
        fixture("subscription.active"),
        fixture("subscription.plan_changed"),
        fixture("payment.succeeded"),
        fixture("payment.failed"),
        count=3,
    )
    assert (active["type"], active["customer_id"]) == ("access.granted", CUSTOMER)
    assert active["data"]["tier"] == "basic" and active["data"]["features"] == ["reports"]
    assert active["data"]["change"] == {
        "features_added": ["reports"],
        "features_removed": [],
        "tier_from": None,
        "tier_to": "basic",
        "limits_changed": {},
        "credits_changed": {},
        "reason": "activated",
    }
    assert changed["type"] == "access.changed"
    assert changed["data"]["grants"] == [
        {
            "source": "sub_7EeHq2ewQuadropD2ra",
            "product_id": "pdt_PRO0planUpgrade9xQ",
            "tier": "pro",
            "features": ["api", "reports", "sso"],
            "suspended": False,
            "ends_at": None,
            "limits": {},
        }
    ]
    assert changed["data"]["change"] == {
        "features_added": ["api", "sso"],
        "features_removed": [],
        "tier_from": "basic",
        "tier_to": "pro",
        "limits_changed": {},
        "credits_changed": {},
        "reason": "plan_changed",
    }
    assert paid["type"] == "access.granted" and paid["data"]["features"] == ["api", "course_rust", "reports", "sso"]
    assert [e["data"]["version"] for e in (active, changed, paid)] == [1, 2, 3]
    assert len({e["id"] for e in (active, changed, paid)}) == 3
    view = running.api("GET", f"/api/customers/{CUSTOMER}/access").json()
    assert view["version"] == 3 and view["tier"] == "pro" and len(view["grants"]) == 2


def test_plan_change_older_than_applied_changes_nothing(running: Stack, client: redis.Redis) -> None:
    newer = at(fixture("subscription.plan_changed"), "2025-08-10T09:15:02Z")
    older = at(copy.deepcopy(fixture("subscription.plan_changed")), "2025-08-01T00:00:00Z")
    older["data"]["product_id"] = "pdt_RUST4raxbl0Rfe4VQi1z"
    active_late = at(fixture("subscription.active"), "2025-07-23T12:01:31Z")
    (event,) = events_after(running, client, newer, older, active_late, count=1)
    assert event["type"] == "access.changed" and event["data"]["tier"] == "pro"
    assert running.api("GET", f"/api/customers/{CUSTOMER}/access").json()["tier"] == "pro"


def test_plan_change_is_one_changed_event_never_revoke_then_grant(running: Stack, client: redis.Redis) -> None:
    downgrade = copy.deepcopy(fixture("subscription.plan_changed"))
    downgrade["data"]["product_id"] = "pdt_RUST4raxbl0Rfe4VQi1z"
    upgraded, downgraded = events_after(
        running, client, fixture("subscription.plan_changed"), at(downgrade, "2025-09-01T00:00:00Z"), count=2
    )
    assert downgraded["type"] == "access.changed"
    assert downgraded["data"]["change"] == {
        "features_added": [],
        "features_removed": ["api", "sso"],
        "tier_from": "pro",
        "tier_to": "basic",
        "limits_changed": {},
        "credits_changed": {},
        "reason": "plan_changed",
    }
    assert [g["product_id"] for g in downgraded["data"]["grants"]] == ["pdt_RUST4raxbl0Rfe4VQi1z"]


def test_extra_fields_and_null_optionals_are_processed(running: Stack, client: redis.Redis) -> None:
    payload = copy.deepcopy(fixture("payment.succeeded"))
    payload["brand_new_envelope_field"] = {"nested": [1, 2]}
    payload["data"]["brand_new_field"] = "x"
    for optional in (
        "tax",
        "settlement_tax",
        "payment_method",
        "card_last_four",
        "discount_id",
        "invoice_url",
        "checkout_session_id",
    ):
        payload["data"][optional] = None
    (event,) = events_after(running, client, payload, count=1)
    assert event["data"]["features"] == ["course_rust"]


def test_cart_of_two_products_and_subscription_payments(running: Stack, client: redis.Redis) -> None:
    payload = copy.deepcopy(fixture("payment.succeeded"))
    payload["data"]["product_cart"] = [
        {"product_id": "pdt_e9mUw084cWnu0tz", "quantity": 1},
        {"product_id": "pdt_ADDON0priority7Kq", "quantity": 1},
        {"product_id": "pdt_not_in_access_yaml", "quantity": 1},
    ]
    renewal = copy.deepcopy(fixture("payment.succeeded"))
    renewal["data"]["payment_id"] = "pay_renewal"
    renewal["data"]["subscription_id"] = "sub_7EeHq2ewQuadropD2ra"
    (event,) = events_after(running, client, payload, renewal, count=1)
    assert event["data"]["features"] == ["course_rust", "priority_support"]
    assert {g["source"] for g in event["data"]["grants"]} == {"pay_2IjeQm4hqU6RA4Z4kwDee"}


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args], env=stack.env(), capture_output=True, text=True, timeout=60
    )


def test_unparseable_event_is_dead_lettered_then_replayed_once(
    running: Stack, client: redis.Redis, tmp_path: Path
) -> None:
    broken = copy.deepcopy(fixture("payment.succeeded"))
    del broken["data"]["customer"]
    assert running.post(broken, webhook_id="msg_broken").json() == {"status": "queued"}
    wait_until(lambda: client.hexists(keys.DEAD_LETTERS, "msg_broken"), what="dead letter")
    listed = _cli(running, "dead-letters", "list")
    record = json.loads(listed.stdout.strip())
    assert (
        record["id"] == "msg_broken" and "data.customer" in record["error"] and record["actor"] == "payment_succeeded"
    )
    assert read_events(client) == []

    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(fixture("payment.succeeded")))
    replayed = _cli(running, "dead-letters", "replay", "msg_broken", "--body", str(fixed))
    assert replayed.returncode == 0, replayed.stderr
    wait_until(lambda: read_events(client), what="replayed event")
    again = _cli(running, "dead-letters", "replay", "msg_broken", "--body", str(fixed))
    assert again.returncode != 0 and "no dead letter" in again.stderr
    drained(client)
    (event,) = read_events(client)
    assert event["source"] == "msg_broken" and event["data"]["features"] == ["course_rust"]
    assert not client.hexists(keys.DEAD_LETTERS, "msg_broken")


def test_failed_messages_are_logged_by_id_never_by_payload(running: Stack, client: redis.Redis) -> None:
    """Dramatiq's own failure lines print the whole message; the worker's log names it by id."""
    broken = copy.deepcopy(fixture("payment.succeeded"))
    broken["data"]["total_amount"] = "not a number"
    assert running.post(broken, webhook_id="msg_leaky").json() == {"status": "queued"}
    wait_until(lambda: client.hexists(keys.DEAD_LETTERS, "msg_leaky"), what="dead letter")
    drained(client)
    worker_log = running.procs[-1].output()
    assert "msg_leaky" in worker_log and "Failed to process message payment_succeeded[" in worker_log
    assert '"event":"dead_lettered"' in worker_log, "the worker process's own JSON lines reach its stderr"
    data = broken["data"]
    for private in (data["customer"]["email"], data["card_holder_name"], data["billing"]["street"], "card_last_four"):
        assert private not in worker_log, private


def test_one_argument_actor_failure_is_dead_lettered_and_replays(running: Stack, client: redis.Redis) -> None:
    """Not only webhooks: an internal actor's final failure (here a charge that finds its offer
    unreadable) lands in dead letters by message id, and replay sends the same arguments again."""
    client.set(keys.offer("off_unreadable"), "{not json")
    with client.pipeline() as pipe:
        messages.push(pipe, messages.internal("charge_offer", "off_unreadable", message_id="msg_charge_1"))
        pipe.execute()
    wait_until(lambda: client.hexists(keys.DEAD_LETTERS, "msg_charge_1"), what="dead letter")
    record = json.loads(_cli(running, "dead-letters", "list").stdout.strip())
    assert record["actor"] == "charge_offer" and record["args"] == ["off_unreadable"], record

    client.delete(keys.offer("off_unreadable"))
    replayed = _cli(running, "dead-letters", "replay", "msg_charge_1")
    assert replayed.returncode == 0 and "charge_offer" in replayed.stdout, replayed.stderr
    drained(client)
    assert client.hlen(keys.DEAD_LETTERS) == 0
    assert "nothing to do: offer is None" in running.procs[-1].output()
