"""Access also goes away: each policy row, on time and once, in any order, through real parts."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import STREAM, Stack, drained, fixture, read_events, wait_until
from worker import keys

CUSTOMER = "cus_8VbC6JDZzPEqfBPUdpj0K"
SUB = "sub_7EeHq2ewQuadropD2ra"
COURSE_PAYMENT = "pay_2IjeQm4hqU6RA4Z4kwDee"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def now(offset: float = 0) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=offset))


def event(kind: str, at: str | None = None, **data: Any) -> dict[str, Any]:
    body = copy.deepcopy(fixture(kind))
    body["timestamp"] = at or now()
    body["data"].update(data)
    return body


def policy(stack: Stack, **values: str) -> None:
    lines = "".join(f"  {k}: {v}\n" for k, v in values.items())
    path = stack.rules_dir / "access.yaml"
    shipped = path.read_text().split("\npolicy:")[0]
    path.write_text(shipped + "\npolicy:\n" + lines)


def deliver(stack: Stack, client: redis.Redis, *bodies: dict[str, Any]) -> None:
    """One at a time, each processed before the next (the order under test)."""
    for body in bodies:
        assert stack.post(body).json()["status"] == "queued"
        drained(client, within=0)


def access(stack: Stack) -> dict[str, Any]:
    return stack.api("GET", f"/api/customers/{CUSTOMER}/access").json()


def access_events(client: redis.Redis) -> list[dict[str, Any]]:
    return [e for e in read_events(client) if e["type"].startswith("access.")]


def start(stack: Stack, **values: str) -> None:
    if values:
        policy(stack, **values)
    stack.web()
    stack.worker()


@pytest.mark.parametrize(("on_cancel", "ends_in"), [("immediately", 3600), ("period_end", -60)])
def test_cancel_revokes_now(stack: Stack, client: redis.Redis, on_cancel: str, ends_in: float) -> None:
    start(stack, on_cancel=on_cancel)
    deliver(
        stack,
        client,
        event("subscription.active", now(-10)),
        event("subscription.cancelled", next_billing_date=now(ends_in)),
    )
    *_, revoked = access_events(client)
    assert revoked["type"] == "access.revoked" and revoked["data"]["change"]["reason"] == "cancelled"
    assert access(stack)["grants"] == []


def test_cancel_at_period_end_keeps_access_then_revokes_on_time_once(stack: Stack, client: redis.Redis) -> None:
    start(stack)
    ends = datetime.now(UTC) + timedelta(seconds=3)
    cancelled = event("subscription.cancelled", next_billing_date=iso(ends))
    deliver(stack, client, event("subscription.active", now(-10)), cancelled)
    (grant,) = access(stack)["grants"]
    assert grant["ends_at"] and access(stack)["tier"] == "basic"  # still has it, and the app can say until when
    assert len(access_events(client)) == 1
    wait_until(lambda: len(access_events(client)) == 2, 15, what="revocation at period end")
    assert datetime.now(UTC) - ends < timedelta(seconds=3)
    stack.post(cancelled)  # a redelivery (same body, new id) schedules nothing new that fires again
    drained(client)
    revoked = access_events(client)[1]
    assert revoked["type"] == "access.revoked" and revoked["data"]["change"]["reason"] == "cancelled"
    assert len(access_events(client)) == 2 and client.zcard(keys.SCHEDULE) == 0


def test_grace_ends_in_revocation(stack: Stack, client: redis.Redis) -> None:
    start(stack, grace="2s")
    deliver(stack, client, event("subscription.active", now(-10)))
    on_hold_at = time.time()
    deliver(stack, client, event("subscription.on_hold"))
    wait_until(lambda: len(access_events(client)) == 2, 15, what="grace end")
    assert access_events(client)[1]["data"]["change"]["reason"] == "grace_ended"
    # Kept through the grace, however slow this machine: the revocation's stream time is 2 s on.
    (revoked_at,) = [int(i.split("-")[0]) / 1000 for i, f in client.xrange(STREAM) if f["type"] == "access.revoked"]
    assert revoked_at >= on_hold_at + 2 - 0.01


def test_grace_ended_by_subscription_active_never_revokes(stack: Stack, client: redis.Redis) -> None:
    start(stack, grace="3s")
    deliver(
        stack,
        client,
        event("subscription.active", now(-10)),
        event("subscription.past_due", now(-1)),
        event("subscription.active", now(0.5)),
    )
    drained(client)  # waits past the would-be revocation
    assert access(stack)["tier"] == "basic" and access(stack)["grants"][0]["ends_at"] is None
    assert [e["type"] for e in access_events(client)] == ["access.granted"]


@pytest.mark.parametrize("kind", ["subscription.expired", "subscription.failed", "subscription.paused"])
def test_expiry_failure_and_pause_revoke_now(stack: Stack, client: redis.Redis, kind: str) -> None:
    start(stack)
    deliver(stack, client, event("subscription.active", now(-10)), event(kind))
    revoked = access_events(client)[-1]
    assert revoked["type"] == "access.revoked" and revoked["data"]["change"]["reason"] == kind.split(".")[1]


def test_out_of_order_pairs_never_leave_access(stack: Stack, client: redis.Redis) -> None:
    start(stack)
    deliver(
        stack,
        client,
        event("subscription.cancelled", now(-5), next_billing_date=now(-1)),
        event("subscription.active", now(-10)),
    )
    assert access(stack)["grants"] == []
    deliver(
        stack,
        client,
        event("subscription.expired", now(-3), subscription_id="sub_two"),
        event("subscription.renewed", now(-4), subscription_id="sub_two"),
    )
    assert access(stack)["grants"] == [] and access_events(client) == []


def test_unpause_and_renewal_grant_again(stack: Stack, client: redis.Redis) -> None:
    start(stack)
    deliver(stack, client, event("subscription.paused", now(-5)), event("subscription.unpaused", now(-1)))
    assert access(stack)["tier"] == "basic"
    assert access_events(client)[-1]["data"]["change"]["reason"] == "unpaused"


@pytest.mark.parametrize(
    ("on_refund", "partial", "revoked"),
    [("full", False, True), ("full", True, False), ("any", True, True), ("never", False, False)],
)
def test_refund_of_one_time_payment_follows_policy(
    stack: Stack, client: redis.Redis, on_refund: str, partial: bool, revoked: bool
) -> None:
    start(stack, on_refund=on_refund)
    deliver(stack, client, fixture("payment.succeeded"), event("refund.succeeded", is_partial=partial))
    assert (access(stack)["grants"] == []) is revoked
    if revoked:
        assert access_events(client)[-1]["data"]["change"]["reason"] == "refunded"


def test_refund_of_a_subscription_payment_changes_nothing(stack: Stack, client: redis.Redis) -> None:
    start(stack)
    renewal = event("payment.succeeded", now(-5), subscription_id=SUB, payment_id="pay_renewal")
    deliver(
        stack,
        client,
        event("subscription.active", now(-10)),
        renewal,
        event("refund.succeeded", payment_id="pay_renewal"),
    )
    assert access(stack)["tier"] == "basic" and len(access_events(client)) == 1


def test_dispute_suspends_then_won_restores_and_lost_revokes(stack: Stack, client: redis.Redis) -> None:
    start(stack)
    deliver(stack, client, fixture("payment.succeeded"), event("dispute.opened", now(-3)))
    suspended = access_events(client)[-1]
    assert suspended["data"]["features"] == [] and suspended["data"]["grants"][0]["suspended"] is True
    assert suspended["data"]["change"]["reason"] == "dispute_opened"
    deliver(stack, client, event("dispute.won", now(-2)))
    restored = access_events(client)[-1]
    assert restored["data"]["features"] == ["course_rust"] and restored["data"]["change"]["reason"] == "dispute_won"
    deliver(stack, client, event("dispute.opened", now(-1)), event("dispute.lost"))
    lost = access_events(client)[-1]
    assert lost["type"] == "access.revoked" and lost["data"]["grants"] == []
    assert lost["data"]["change"]["reason"] == "dispute_lost"


def test_won_before_opened_leaves_access(stack: Stack, client: redis.Redis) -> None:
    start(stack)
    deliver(
        stack, client, fixture("payment.succeeded"), event("dispute.won", now(-1)), event("dispute.opened", now(-2))
    )
    assert access(stack)["features"] == ["course_rust"] and len(access_events(client)) == 1


def test_dispute_on_unknown_payment_is_resolved_through_dodo(stack: Stack, client: redis.Redis) -> None:
    stack.web()
    stack.emulator()
    stack.worker()
    stack.dodo_control(
        "seed",
        {
            "payments": {
                "pay_elsewhere": {
                    "customer_id": CUSTOMER,
                    "product_cart": [{"product_id": "pdt_ADDON0priority7Kq", "quantity": 1}],
                }
            }
        },
    )
    deliver(stack, client, event("dispute.opened", payment_id="pay_elsewhere"))
    assert stack.dodo_requests("GET", "/payments/pay_elsewhere")
    deliver(stack, client, event("dispute.lost", payment_id="pay_elsewhere"))
    assert access(stack)["grants"] == []  # nothing was ever granted here: nothing to revoke, nothing failed
    assert client.hlen(keys.DEAD_LETTERS) == 0


def test_revocation_scheduled_across_a_worker_sigkill(stack: Stack, client: redis.Redis) -> None:
    start(stack, grace="4s")
    deliver(stack, client, event("subscription.active", now(-10)), event("subscription.on_hold"))
    stack.procs[-1].kill()
    stack.worker()
    wait_until(lambda: len(access_events(client)) == 2, 60, what="revocation after restart")
    drained(client)
    assert [e["type"] for e in access_events(client)] == ["access.granted", "access.revoked"]


def test_no_offers_after_refund_and_pending_ones_expire(stack: Stack, client: redis.Redis, rules_dir: Path) -> None:
    (rules_dir / "upsell.yaml").write_text(
        "rules:\n  - id: addon\n    on: payment.succeeded\n    offer: {type: one_click, product: pdt_ADDON0priority7Kq}\n"
    )
    start(stack)
    deliver(stack, client, fixture("payment.succeeded"))
    (offer,) = [e for e in read_events(client) if e["type"] == "offer.created"]
    deliver(
        stack,
        client,
        event("refund.succeeded", is_partial=True),
        event("payment.succeeded", payment_id="pay_after_refund"),
    )
    types = [e["type"] for e in read_events(client) if e["type"].startswith("offer.")]
    assert types == ["offer.created", "offer.expired"]
    assert stack.api("POST", f"/api/offers/{offer['data']['offer_id']}/accept").json()["error"] == "offer expired"
