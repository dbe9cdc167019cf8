"""The one-click charge: at most one charging call per offer, whatever crashes or repeats.

The guard is ours, not the broker's: before the call that can move money, `SET NX` claims the
offer's single attempt. A message that finds the claim taken (Dramatiq redelivered it after a
crash, or runs it twice at once) never calls Dodo to charge again: Dodo's payment webhook or the
reconcile jobs (offers/reconcile.py) settle the offer from Dodo's own records.
"""

from __future__ import annotations

import time

import redis
import structlog
from dodopayments import DodoPayments, DodoPaymentsError
from redis.client import Pipeline

from worker import dodo, keys, metrics
from worker.access import grants
from worker.access.config import AccessConfig
from worker.offers import eligibility, outcome, planchange, pricing, reconcile, store
from worker.offers.model import Offer
from worker.queue import messages

log = structlog.get_logger("charge")


def charge(client: redis.Redis, stream: str, api: DodoPayments, access: AccessConfig, offer_id: str) -> str:
    offer = store.get(client, offer_id)
    if offer is None or offer.state != "charging":
        return f"nothing to do: offer is {offer and offer.state}"
    if not client.set(keys.charge_attempt(offer_id), str(time.time()), nx=True):
        return "an attempt was made already: never a second; the reconcile jobs settle it from Dodo's records"
    if offer.expired():
        outcome.fail(client, stream, api, offer, "offer_expired", fallback=False)
        return "not charged: the offer expired before the charge ran"
    state = grants.read(client, access, offer.customer_id)  # once more, right before money moves
    blocked = eligibility.access_blocker(state, offer.product_id, access.policy.suppress_offers_after_refund)
    if blocked:
        outcome.fail(client, stream, api, offer, blocked, fallback=False)
        return f"not charged: {blocked}"
    try:
        unpriced = pricing.charge_blocker(api, offer)  # the discount read afresh: never another price
    except DodoPaymentsError as exc:
        outcome.fail(client, stream, api, offer, dodo.error_code(exc), fallback=False)
        return "failed before charging: the price could not be checked with Dodo"
    if unpriced:
        outcome.fail(client, stream, api, offer, unpriced, fallback=False)
        return f"not charged: {unpriced}"
    if offer.is_plan_change:
        return _change_plan(client, stream, api, offer)
    try:
        method, reason = eligibility.saved_method(api, offer.customer_id)
    except DodoPaymentsError as exc:
        outcome.fail(client, stream, api, offer, dodo.error_code(exc))
        return "failed before charging: payment methods unavailable"
    method_id = method.payment_method_id if method is not None else None
    if method_id is None:
        metrics.CHARGES.labels(offer.rule_id, "fallback").inc()
        outcome.fail(client, stream, api, offer, reason)
        return f"fallback checkout: {reason}"
    try:
        session = api.checkout_sessions.create(
            **outcome.checkout_args(offer), payment_method_id=method_id, confirm=True
        )
    except DodoPaymentsError as exc:
        return _call_failed(client, stream, api, offer, exc)
    metrics.CHARGES.labels(offer.rule_id, "sent").inc()
    store.annotate(
        client,
        offer_id,
        "charging",
        {"session_id": session.session_id, "payment_id": session.payment_id, "payment_method_id": method_id},
    )
    return f"charged: session {session.session_id}, waiting for Dodo's payment webhook"


def _call_failed(client: redis.Redis, stream: str, api: DodoPayments, offer: Offer, exc: DodoPaymentsError) -> str:
    """A refusal (4xx) is a settled "no": failed, with a fallback checkout for one-click offers. A
    timeout, a cut connection or a 5xx is not: the money may have moved, so the offer stays
    `charging` with no second way to pay until Dodo's records (reconcile) or webhook settle it."""
    code = dodo.error_code(exc)
    if dodo.outcome_unknown(exc):
        metrics.CHARGES.labels(offer.rule_id, "unknown").inc()
        log.warning("charge_outcome_unknown", error_code=code, hint="settled by Dodo's webhook or the reconcile jobs")
        return f"outcome unknown ({code}): left charging for Dodo's records to settle"
    metrics.CHARGES.labels(offer.rule_id, "call_failed").inc()
    outcome.fail(client, stream, api, offer, code, fallback=not offer.is_plan_change)
    return f"refused by Dodo ({code}); not retried"


def _change_plan(client: redis.Redis, stream: str, api: DodoPayments, offer: Offer) -> str:
    """Checked on the subscription as Dodo has it now (this customer's, active, not already on the
    product), changed with its current add-ons and the arguments the quote was made with."""
    if not offer.subscription_id:
        outcome.fail(client, stream, api, offer, "no_subscription_to_change", fallback=False)
        return "failed: the offer names no subscription"
    try:
        subscription = api.subscriptions.retrieve(offer.subscription_id)
    except DodoPaymentsError as exc:
        outcome.fail(client, stream, api, offer, dodo.error_code(exc), fallback=False)
        return "failed before changing: the subscription could not be read"
    blocked = planchange.blocker(subscription, offer)
    if blocked:
        outcome.fail(client, stream, api, offer, blocked, fallback=False)
        return f"not changed: {blocked}"
    args = planchange.offer_args(subscription, offer)
    args |= {"on_payment_failure": offer.on_payment_failure or "prevent_change", "metadata": outcome.metadata(offer)}
    try:
        result = api.subscriptions.change_plan(offer.subscription_id, **args)
    except DodoPaymentsError as exc:
        return _call_failed(client, stream, api, offer, exc)
    metrics.CHARGES.labels(offer.rule_id, "sent").inc()
    if result.payment_id is None:
        store.transition(client, stream, offer.offer_id, "converted", event_type="offer.converted")
        return "plan changed, nothing billed now"
    store.annotate(client, offer.offer_id, "charging", {"payment_id": result.payment_id})
    return f"plan changed: payment {result.payment_id}, waiting for Dodo's payment webhook"


def schedule_charge(pipe: Pipeline, offer: Offer) -> None:
    """At accept, in the accept's own transaction: the charge, and the first reconcile job."""
    messages.push(pipe, messages.internal("charge_offer", offer.offer_id))
    reconcile.schedule_step(pipe, offer.offer_id, 0, time.time())
