"""Final access depends only on the set of webhooks, never on arrival order or repetition (contract
invariants 4 and 11), proven against a small reference model that applies them in timestamp order.

Hypothesis generates one customer's history (1 to 3 subscriptions and one-time payments through
every lifecycle event, refunds full and partial, disputes opened, won and lost), delivers it in a
random order with repeats (the same webhook-id, and the same event under a new id), through the
real effects (SDK-parsed bodies) and the real commit script on a real Redis, then compares what
counts now with the model's answer."""

from __future__ import annotations

import copy
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import fixture
from worker.access import config, grants, payments
from worker.webhooks import handle

DAY = 86400
BASIC, PRO, COURSE, ADDON = (
    "pdt_RUST4raxbl0Rfe4VQi1z",
    "pdt_PRO0planUpgrade9xQ",
    "pdt_e9mUw084cWnu0tz",
    "pdt_ADDON0priority7Kq",
)
GRACE = 3 * DAY
ADDON_LIFETIME = 30 * DAY
ONE_TIME = {"pay_0": COURSE, "pay_1": ADDON, "pay_2": COURSE}  # Dodo's records: payment -> product
SUBS = ["sub_0", "sub_1", "sub_2"]
SUB_KINDS = [
    "active",
    "renewed",
    "plan_changed",
    "updated_active",
    "updated_other",
    "on_hold",
    "past_due",
    "cancelled",
    "expired",
    "paused",
]


def access_config(tmp: Path) -> config.AccessConfig:
    shipped = (Path(__file__).resolve().parents[1] / "rules" / "access.yaml").read_text()
    text = shipped.replace("{features: [priority_support]}", "{features: [priority_support], duration: 30d}")
    (tmp / "access.yaml").write_text(text)
    return config.load(tmp / "access.yaml", tmp)


@dataclass(frozen=True)
class Event:
    kind: str  # a SUB_KINDS entry, payment, sub_payment, refund, dispute_opened, dispute_won, dispute_lost
    target: str  # subscription id or payment id
    at: int  # seconds relative to now (negative: past)
    product: str = ""
    until: int = 0  # cancelled: next_billing_date relative to now
    partial: bool = False


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def body(event: Event, customer: str, now: float) -> tuple[str, dict[str, Any]]:
    """The webhook type and payload Dodo would send."""
    kind = event.kind
    if kind in SUB_KINDS:
        event_type = "subscription." + {"updated_active": "updated", "updated_other": "updated"}.get(kind, kind)
        payload = copy.deepcopy(fixture("subscription.active"))
        data = payload["data"]
        status = "active" if kind in ("active", "renewed", "plan_changed", "updated_active") else "on_hold"
        data.update(subscription_id=event.target, product_id=event.product, status=status)
        data["next_billing_date"] = iso(now + (event.until or 30 * DAY))
    elif kind in ("payment", "sub_payment"):
        event_type, payload = "payment.succeeded", copy.deepcopy(fixture("payment.succeeded"))
        data = payload["data"]
        data.update(payment_id=event.target, subscription_id=None if kind == "payment" else event.target[4:])
        data["product_cart"] = [{"product_id": event.product, "quantity": 1}]
        data["metadata"] = {}
    elif kind == "refund":
        event_type, payload = "refund.succeeded", copy.deepcopy(fixture("refund.succeeded"))
        data = payload["data"]
        data.update(payment_id=event.target, is_partial=event.partial, refund_id=f"ref_{event.target}_{event.at}")
    else:
        event_type = kind.replace("_", ".")
        payload = copy.deepcopy(fixture("dispute.opened"))
        data = payload["data"]
        data.update(payment_id=event.target, dispute_status=kind)
    payload["type"] = event_type
    payload["timestamp"] = iso(now + event.at)
    data.setdefault("customer", {})["customer_id"] = customer
    return event_type, payload


def dodo_records(customer: str) -> dict[str, payments.PaymentRecord]:
    """What `payments.retrieve` answers for every payment a dispute or refund may name."""
    records = {
        pid: payments.PaymentRecord(customer_id=customer, grant_keys=[f"{pid}/{product}"], products=[product])
        for pid, product in ONE_TIME.items()
    }
    for sub in SUBS:
        records[f"pay_{sub}"] = payments.PaymentRecord(
            customer_id=customer, grant_keys=[sub], products=[BASIC], subscription_id=sub
        )
    return records


def model(history: list[Event], now: float) -> dict[str, tuple[str, bool]]:
    """The truth: events in timestamp order; what counts at `now` (grant key -> product, suspended)."""
    held: dict[str, tuple[str, float | None]] = {}
    open_disputes: dict[str, bool] = {}
    records = dodo_records("x")
    for event in sorted(history, key=lambda e: e.at):
        at, key = now + event.at, event.target
        if event.kind in ("active", "renewed", "plan_changed", "updated_active"):
            held[key] = (event.product, None)
        elif event.kind in ("on_hold", "past_due"):
            held[key] = (event.product, at + GRACE)
        elif event.kind == "cancelled":
            held[key] = (event.product, now + event.until)
        elif event.kind in ("expired", "paused"):
            held.pop(key, None)
        elif event.kind == "payment":
            held[f"{key}/{event.product}"] = (event.product, at + ADDON_LIFETIME if event.product == ADDON else None)
        elif event.kind == "refund" and not event.partial and key in ONE_TIME:
            held.pop(f"{key}/{ONE_TIME[key]}", None)
        elif event.kind.startswith("dispute_"):
            open_disputes[key] = event.kind == "dispute_opened"
            if event.kind == "dispute_lost":
                for grant_key in records[key].grant_keys:
                    held.pop(grant_key, None)
    suspended = {k for pid, is_open in open_disputes.items() if is_open for k in records[pid].grant_keys}
    return {k: (product, k in suspended) for k, (product, ends) in held.items() if ends is None or ends > now}


at_times = st.integers(-60 * DAY, -60)
sub_events = st.builds(
    Event,
    kind=st.sampled_from(SUB_KINDS),
    target=st.sampled_from(SUBS),
    at=at_times,
    product=st.sampled_from([BASIC, PRO]),
    until=st.integers(-10 * DAY, 30 * DAY).filter(lambda s: abs(s) > 120),
)
one_time = st.sampled_from(sorted(ONE_TIME)).flatmap(
    lambda pid: st.builds(
        Event, kind=st.just("payment"), target=st.just(pid), at=at_times, product=st.just(ONE_TIME[pid])
    )
)
payment_ids = st.sampled_from([*sorted(ONE_TIME), *(f"pay_{s}" for s in SUBS)])
money_events = st.one_of(
    st.builds(
        Event,
        kind=st.just("sub_payment"),
        target=st.sampled_from([f"pay_{s}" for s in SUBS]),
        at=at_times,
        product=st.just(BASIC),
    ),
    st.builds(Event, kind=st.just("refund"), target=payment_ids, at=at_times, partial=st.booleans()),
    st.builds(
        Event, kind=st.sampled_from(["dispute_opened", "dispute_won", "dispute_lost"]), target=payment_ids, at=at_times
    ),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Event], list[tuple[int, bool]]]:
    """A history (distinct timestamps) and its arrival order: (index, under a new webhook-id)."""
    history = draw(
        st.lists(
            st.one_of(sub_events, sub_events, one_time, money_events), min_size=1, max_size=14, unique_by=lambda e: e.at
        )
    )
    order = draw(st.permutations(range(len(history))))
    repeats = draw(st.lists(st.tuples(st.integers(0, len(history) - 1), st.booleans()), max_size=5))
    arrivals = [(i, False) for i in order]
    for index, fresh_id in repeats:
        arrivals.insert(draw(st.integers(0, len(arrivals))), (index, fresh_id))
    return history, arrivals


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=deliveries())
def test_final_access_is_the_models_whatever_the_order_and_repeats(
    client: redis.Redis, tmp_path: Path, case: tuple[list[Event], list[tuple[int, bool]]]
) -> None:
    history, arrivals = case
    access = access_config(tmp_path)
    customer, now = f"cus_{uuid.uuid4().hex[:12]}", time.time()
    records = dodo_records(customer)
    ids = [f"msg_{uuid.uuid4().hex}" for _ in history]
    for index, fresh_id in arrivals:
        event_type, payload = body(history[index], customer, now)
        webhook_id = f"msg_{uuid.uuid4().hex}" if fresh_id else ids[index]
        outcome = handle.outcome_of(access, records.__getitem__, event_type, webhook_id, json.dumps(payload))
        if outcome.update is not None:
            grants.apply(client, "test:model", access, outcome.update)
    state = grants.read(client, access, customer)
    got = {k: (g.product_id, g.suspended) for k, g in state.grants.items()}
    assert got == model(history, now), history
    counting = [g for g in state.grants.values() if not g.suspended]
    assert state.features == sorted({f for g in counting for f in g.features})
