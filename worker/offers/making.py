"""Turning matched rules into offers, reminders and scheduled follow-ups, idempotently.

Every id derives from its cause (the webhook-id or triggering offer, and the rule), so a
redelivered message finds its offer or job already there and changes nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from dodopayments import DodoPayments, DodoPaymentsError

from worker import catalog, dodo, events, keys, metrics
from worker.access import grants
from worker.access.state import AccessState
from worker.book import Book
from worker.context import Context
from worker.offers import app_events, display, eligibility, planchange, store
from worker.offers.model import Offer
from worker.queue import schedule
from worker.queue.errors import PermanentError
from worker.rules import graph, match
from worker.rules.match import Facts
from worker.rules.model import Rule
from worker.stats import counters, lift

log = structlog.get_logger("upsell")


@dataclass(frozen=True)
class Trigger:
    facts: Facts
    source: str  # the webhook-id, or the triggering offer's id
    offer_id: str | None = None
    subscription_id: str | None = None
    payment_id: str | None = None
    at: str | None = None  # the cause's time (ISO 8601): the offer.created it makes occurred then
    depth: int = 0  # the causation depth of offers it makes (rules/graph.py)

    def dumps(self) -> str:
        return json.dumps(asdict(self) | {"facts": self.facts.as_dict()})

    @classmethod
    def loads(cls, raw: str) -> Trigger:
        data = json.loads(raw)
        return cls(**data | {"facts": Facts.from_dict(data["facts"])})


def offer_trigger(offer: Offer, event_type: str) -> Trigger:
    facts = Facts(event_type, offer.customer_id, (offer.product_id,), offer_rule=offer.rule_id)
    return Trigger(facts, offer.offer_id, offer.offer_id, offer.subscription_id, depth=offer.causation_depth + 1)


def run(
    client: Any,
    stream: str,
    book: Book,
    trigger: Trigger,
    state: AccessState | None = None,
    api: DodoPayments | None = None,
) -> list[str]:
    """Evaluate the trigger's rules now; delayed ones go to the schedule. Returns outcomes for logs.
    `state` is the customer's access if the caller has it; read only when a rule could need it."""
    candidates = book.index.candidates(trigger.facts)
    if not candidates:
        return []
    now, customer_id = time.time(), trigger.facts.customer_id
    state = grants.current(book.access, state, now) if state else grants.read(client, book.access, customer_id)
    why = state.suppressed(book.access.policy.suppress_offers_after_refund, now)
    if why:
        return [f"no offers: {why}"]
    outcomes = []
    for verdict in match.evaluate(
        candidates, trigger.facts, book.access, state.tier, state.features, match.numbers_of(state)
    ):
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
            outcomes.append(f"{rule.id}: {act(client, stream, book, rule, trigger, state, api)}")
    return outcomes


def fire(client: Any, stream: str, book: Book, rule_id: str, trigger: Trigger, api: DodoPayments | None = None) -> str:
    """A delayed rule comes due: it acts only if the rule still exists and `when` still holds."""
    rule = book.index.by_id.get(rule_id)
    if rule is None:
        return "skipped: rule no longer exists"
    state = grants.read(client, book.access, trigger.facts.customer_id)
    suppressed = state.suppressed(book.access.policy.suppress_offers_after_refund, time.time())
    if suppressed:
        return f"skipped: {suppressed}"
    why = match.mismatches(
        rule, trigger.facts, book.access, state.tier, state.features, numbers=match.numbers_of(state)
    )
    if why:
        return "skipped: " + "; ".join(why)
    return act(client, stream, book, rule, trigger, state, api)


def act(
    client: Any,
    stream: str,
    book: Book,
    rule: Rule,
    trigger: Trigger,
    state: AccessState,
    api: DodoPayments | None = None,
) -> str:
    triggering = None
    if trigger.offer_id:
        triggering = store.get(client, trigger.offer_id)
        expected = catalog.OFFER_TRIGGERS[trigger.facts.trigger]
        if triggering is None or triggering.state != expected:
            return f"skipped: offer {trigger.offer_id} is {triggering and triggering.state}, not {expected}"
    if rule.notify:
        assert triggering is not None
        event_id = events.stable_id(trigger.source, rule.id, rule.notify)
        sent = store.notify_once(client, stream, rule.notify, triggering, trigger.source, event_id)
        return f"{rule.notify} {'emitted' if sent else 'already emitted'}"
    offer = new_offer(rule, trigger, book.version)
    if trigger.depth > graph.MAX_DEPTH:
        return _too_deep(client, rule, offer)
    blocked = eligibility.access_blocker(state, offer.product_id, book.access.policy.suppress_offers_after_refund)
    blocked = blocked or _subscription_blocker(api, offer)
    if blocked:
        return f"not offered: {blocked}"
    if api is not None:  # name and prices for the app (cached); Dodo down: filled in when the app reads it
        code = offer.discount_code
        unavailable = display.settle_price(api, offer, rule.on_discount_unavailable)
        if unavailable:
            _no_discount(client, rule, offer, code, unavailable)
        if unavailable and rule.on_discount_unavailable == "skip":
            return f"not offered: discount {code} cannot apply ({unavailable})"
    terms = match.variant_terms(rule, match.variant_for(rule, offer.customer_id))
    if rule.holdout and lift.held_out(rule.id, offer.customer_id, rule.holdout):
        lift.record(client, rule.id, offer.variant, offer.customer_id, "held_out", rule.lift_window)
        return "held out: no offer (counted toward the rule's lift)"
    if rule.mode == "shadow":
        counted = counters.shadow(client, offer, rule.limit.once_per_customer, terms)
        return f"shadow: would create {offer.offer_id}" if counted else "shadow: counted already (or limited)"
    at = datetime.fromisoformat(trigger.at) if trigger.at and not rule.delay else None  # a delay's end is now
    limits = {"once": rule.limit.once_per_customer, "cooldown": rule.limit.cooldown_after_decline is not None}
    result = store.create(client, stream, offer, **limits, at=at, terms=terms)
    if rule.holdout and result in ("created", "exists"):
        lift.record(client, rule.id, offer.variant, offer.customer_id, "exposed", rule.lift_window)
    log.info("offer_" + result, offer_id=offer.offer_id, rule_id=rule.id, variant=offer.variant)
    return f"offer {offer.offer_id} {result}"


_told_too_deep: set[str] = set()


def _no_discount(client: Any, rule: Rule, offer: Offer, code: str | None, reason: str) -> None:
    """A code Dodo will not apply: counted once per would-be offer in the rule's stats
    (`discount_unavailable`) and logged; the rule's `on_discount_unavailable` says what follows."""
    counters.once(client, f"discount_unavailable:{offer.offer_id}", offer, "discount_unavailable")
    metrics.OFFERS.labels(rule.id, "discount_unavailable").inc()
    then = rule.on_discount_unavailable
    log.warning("offer_discount_unavailable", rule_id=rule.id, discount_code=code, reason=reason, then=then)


def _too_deep(client: Any, rule: Rule, offer: Offer) -> str:
    """A chain of offers past MAX_DEPTH makes nothing more: counted once per would-be offer in the
    rule's stats (`too_deep`), logged once per rule by each process."""
    counters.once(client, f"too_deep:{offer.offer_id}", offer, "too_deep")
    metrics.OFFERS.labels(rule.id, "too_deep").inc()
    if rule.id not in _told_too_deep:
        _told_too_deep.add(rule.id)
        log.warning("offer_chain_too_deep", rule_id=rule.id, depth=offer.causation_depth, limit=graph.MAX_DEPTH)
    return f"not offered: causation depth {offer.causation_depth} is past {graph.MAX_DEPTH}"


def _subscription_blocker(api: DodoPayments | None, offer: Offer) -> str | None:
    """A plan change is offered only on a subscription that is this customer's, active and not
    already on the product (an app event may name any subscription id). Dodo unreachable: offered,
    and the charge checks again."""
    if not offer.is_plan_change or api is None:
        return None
    if not offer.subscription_id:
        return "no_subscription_to_change"
    try:
        return planchange.blocker(api.subscriptions.retrieve(offer.subscription_id), offer)
    except DodoPaymentsError as exc:
        if getattr(exc, "status_code", None) == 404:
            return "subscription_not_found"
        log.warning("subscription_unchecked", error_code=dodo.error_code(exc), hint="the charge checks it again")
        return None


def new_offer(rule: Rule, trigger: Trigger, rule_set: str | None = None) -> Offer:
    customer_id = trigger.facts.customer_id
    variant = match.variant_for(rule, customer_id)
    spec = rule.offer_for(variant)
    now = datetime.now(UTC)
    expires_at = events.iso(now + timedelta(seconds=rule.expires_in)) if rule.expires_in else None
    proration = spec.proration or ("prorated_immediately" if spec.type in ("upgrade", "downgrade") else None)
    return Offer(
        offer_id="off_" + events.stable_id(trigger.source, rule.id).replace("-", ""),
        rule_id=rule.id,
        variant=match.variant_name(rule, variant),
        variant_id=match.variant_id(rule, variant),
        customer_id=customer_id,
        type=spec.type,
        product_id=spec.product,
        quantity=spec.quantity,
        proration=proration,
        on_payment_failure=spec.on_payment_failure,
        effective_at=spec.effective_at,
        discount_code=spec.discount_code,
        subscription_id=trigger.subscription_id,
        created_at=events.iso(now),
        expires_at=expires_at,
        source=trigger.source,
        trigger=trigger.facts.trigger,
        cooldown_seconds=rule.limit.cooldown_after_decline,
        return_url=rule.return_url,
        locale=rule.locale,
        source_payment_id=trigger.payment_id,
        causation_depth=trigger.depth,
        rule_set=rule_set or None,
    )


def on_app_event(ctx: Context, event_id: str, customer_id: str, body: str) -> list[str]:
    """Rules on the app's event; offers take ids from the event id, so a redelivery makes none twice."""
    try:
        event_type, data = app_events.parse(body)
    except app_events.BadEvent as exc:
        raise PermanentError(str(exc)) from None
    trigger = Trigger(app_events.facts(customer_id, event_type, data), event_id, None, app_events.subscription_of(data))
    outcomes = run(ctx.client, ctx.stream, ctx.book.get(), trigger, api=ctx.dodo)
    ctx.client.set(keys.processed(event_id), "1", ex=keys.DONE_TTL)
    return outcomes


def on_offer_event(ctx: Context, offer_id: str, event_type: str) -> list[str]:
    """Rules triggered by an offer event; a new plan-change offer gets its quote first."""
    offer = store.get(ctx.client, offer_id)
    if offer is None:
        return []
    structlog.contextvars.bind_contextvars(customer_id=offer.customer_id)
    if event_type == "offer.created" and offer.is_plan_change and offer.subscription_id:
        try:
            store.annotate(ctx.client, offer_id, "pending", {"quote": planchange.offer_quote(ctx.dodo, offer)})
        except DodoPaymentsError as exc:
            log.warning("quote_unavailable", error_code=dodo.error_code(exc), hint="quoted again when accepted")
    return run(ctx.client, ctx.stream, ctx.book.get(), offer_trigger(offer, event_type), api=ctx.dodo)
