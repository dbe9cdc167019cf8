"""Turning matched rules into offers, reminders and scheduled follow-ups, idempotently.

Every id derives from its cause (the webhook-id or triggering offer, and the rule), so a
redelivered message finds its offer or job already there and changes nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog

from worker import engine, events, grants, offers, schedule
from worker.engine import Facts
from worker.rulebook import Book
from worker.rules import Rule

log = structlog.get_logger("upsell")
# For offer.* triggers the triggering offer must still be in this state when a rule acts.
EXPECTED_STATE = {"offer.created": "pending", "offer.declined": "declined", "offer.failed": "failed"}


@dataclass(frozen=True)
class Trigger:
    facts: Facts
    source: str  # the webhook-id, or the triggering offer's id
    offer_id: str | None = None
    subscription_id: str | None = None

    def dumps(self) -> str:
        return json.dumps(asdict(self) | {"facts": self.facts.as_dict()})

    @classmethod
    def loads(cls, raw: str) -> Trigger:
        data = json.loads(raw)
        return cls(**data | {"facts": Facts.from_dict(data["facts"])})


def offer_trigger(offer: dict[str, Any], event_type: str) -> Trigger:
    facts = Facts(event_type, offer["customer_id"], (offer["product_id"],), offer_rule=offer["rule_id"])
    return Trigger(facts, offer["offer_id"], offer["offer_id"], offer.get("subscription_id"))


def run(client: Any, stream: str, book: Book, trigger: Trigger, state: dict[str, Any] | None = None) -> list[str]:
    """Evaluate the trigger's rules now; delayed ones go to the schedule. Returns outcomes for logs.
    `state` is the customer's access if the caller has it; read only when a rule could need it."""
    candidates = book.index.candidates(trigger.facts)
    if not candidates:
        return []
    state = state or grants.read(client, trigger.facts.customer_id)
    outcomes = []
    for verdict in engine.evaluate(candidates, trigger.facts, book.access, state["tier"], state["features"]):
        if not verdict.matched:
            continue
        rule = verdict.rule
        if rule.delay:
            job_id = "rule:" + events.stable_id(trigger.source, rule.id)
            with client.pipeline() as pipe:
                schedule.add(pipe, job_id, time.time() + rule.delay, "fire_rule", rule.id, trigger.dumps())
                pipe.execute()
            outcomes.append(f"{rule.id}: scheduled in {rule.delay}s")
        else:
            outcomes.append(f"{rule.id}: {act(client, stream, book, rule, trigger)}")
    return outcomes


def fire(client: Any, stream: str, book: Book, rule_id: str, trigger: Trigger) -> str:
    """A delayed rule comes due: it acts only if the rule still exists and `when` still holds."""
    rule = book.index.by_id.get(rule_id)
    if rule is None:
        return "skipped: rule no longer exists"
    state = grants.read(client, trigger.facts.customer_id)
    why = engine.mismatches(rule, trigger.facts, book.access, state["tier"], state["features"])
    if why:
        return "skipped: " + "; ".join(why)
    return act(client, stream, book, rule, trigger)


def act(client: Any, stream: str, book: Book, rule: Rule, trigger: Trigger) -> str:
    triggering = None
    if trigger.offer_id:
        triggering = offers.get(client, trigger.offer_id)
        expected = EXPECTED_STATE[trigger.facts.trigger]
        if triggering is None or triggering["state"] != expected:
            return f"skipped: offer {trigger.offer_id} is {triggering and triggering['state']}, not {expected}"
    if rule.notify:
        assert triggering is not None
        event_id = events.stable_id(trigger.source, rule.id, rule.notify)
        sent = offers.notify_once(client, stream, rule.notify, triggering, trigger.source, event_id)
        return f"{rule.notify} {'emitted' if sent else 'already emitted'}"
    offer = new_offer(rule, trigger)
    result = offers.create(client, stream, offer, once=rule.limit.once_per_customer,
                           cooldown=rule.limit.cooldown_after_decline is not None)
    log.info("offer_" + result, offer_id=offer["offer_id"], rule_id=rule.id, variant=offer["variant"])
    return f"offer {offer['offer_id']} {result}"


def new_offer(rule: Rule, trigger: Trigger) -> dict[str, Any]:
    customer_id = trigger.facts.customer_id
    variant = engine.variant_for(rule, customer_id)
    spec = rule.offer_for(variant)
    now = datetime.now(timezone.utc)
    expires_at = events.iso(now + timedelta(seconds=rule.expires_in)) if rule.expires_in else None
    proration = spec.proration or ("prorated_immediately" if spec.type in ("upgrade", "downgrade") else None)
    return {
        "offer_id": "off_" + events.stable_id(trigger.source, rule.id).replace("-", ""),
        "rule_id": rule.id,
        "variant": engine.variant_name(rule, variant),
        "customer_id": customer_id,
        "type": spec.type,
        "product_id": spec.product,
        "quantity": spec.quantity,
        "proration": proration,
        "on_payment_failure": spec.on_payment_failure,
        "discount_code": spec.discount_code,
        "subscription_id": trigger.subscription_id,
        "state": "pending",
        "created_at": events.iso(now),
        "expires_at": expires_at,
        "source": trigger.source,
        "trigger": trigger.facts.trigger,
        "cooldown_seconds": rule.limit.cooldown_after_decline,
        "checkout_url": None,
        "quote": None,
        "payment_id": None,
        "error_code": None,
    }
