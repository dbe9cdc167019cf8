"""The one-click charge: at most one charging call per offer, whatever crashes or repeats.

The guard is ours, not the broker's: before the call that can move money, `SET NX` claims the
offer's single attempt. A message that finds the claim taken (Dramatiq redelivered it after a
crash, or runs it twice at once) never calls Dodo to charge again: it reconciles from the session
it recorded, or leaves the offer to Dodo's payment webhook and the reconcile job.
"""

from __future__ import annotations

import time
from typing import Any

import redis
import structlog
from dodopayments import DodoPayments, DodoPaymentsError
from redis.client import Pipeline

from worker import config, keys, metrics
from worker.offers import dodo, eligibility, store
from worker.offers.model import Offer
from worker.queue import messages, schedule

log = structlog.get_logger("charge")
RECONCILE_AFTER_SECONDS = 15 * 60


def fallback_checkout(api: DodoPayments, offer: Offer) -> str | None:
    """A normal checkout session (no confirm, no card): the customer completes it themselves."""
    if offer.is_plan_change:
        return None
    try:
        session = api.checkout_sessions.create(**_checkout_args(offer))
    except DodoPaymentsError as exc:
        log.warning("fallback_checkout_failed", error_code=dodo.error_code(exc))
        return None
    return session.checkout_url


def metadata(offer: Offer) -> dict[str, str]:
    """On every checkout and plan change: which offer, rule and purchase the money comes from."""
    tags = {"upsell_offer_id": offer.offer_id, "upsell_rule_id": offer.rule_id}
    if offer.source_payment_id:
        tags["upsell_source_payment_id"] = offer.source_payment_id
    return tags


def _checkout_args(offer: Offer) -> dict[str, Any]:
    args: dict[str, Any] = {
        "product_cart": [{"product_id": offer.product_id, "quantity": offer.quantity}],
        "customer": {"customer_id": offer.customer_id},
        "metadata": metadata(offer),
    }
    return_url = offer.return_url or config.return_url()
    if return_url:
        args["return_url"] = return_url
    if offer.discount_code:
        args["discount_code"] = offer.discount_code
    return args


def quote(api: DodoPayments, subscription_id: str, product_id: str, quantity: int, proration: Any) -> dict[str, Any]:
    """What a plan change would charge now, as the app shows it to the customer."""
    preview = api.subscriptions.preview_change_plan(
        subscription_id, product_id=product_id, quantity=quantity, proration_billing_mode=proration
    )
    summary = preview.immediate_charge.summary
    return {
        "total_amount": summary.total_amount,
        "currency": str(summary.currency),
        "customer_credits": summary.customer_credits,
        "tax": summary.tax,
        "effective_at": preview.immediate_charge.effective_at.isoformat(),
        "proration": proration,
    }


def offer_quote(api: DodoPayments, offer: Offer) -> dict[str, Any]:
    assert offer.subscription_id and offer.proration
    return quote(api, offer.subscription_id, offer.product_id, offer.quantity, offer.proration)


def fail(
    client: redis.Redis,
    stream: str,
    api: DodoPayments,
    offer: Offer,
    code: str,
    source: str | None = None,
    changes: dict[str, Any] | None = None,
    fallback: bool = True,
) -> None:
    """Failed for good (never retried): the offer carries the error code and a fallback checkout URL."""
    url = fallback_checkout(api, offer) if fallback else None
    moved, _ = store.transition(
        client,
        stream,
        offer.offer_id,
        "failed",
        {"error_code": code, "checkout_url": url, **(changes or {})},
        event_type="offer.failed",
        source=source,
    )
    log.info("offer_failed", error_code=code, checkout_url=bool(url), moved=moved)


def charge(client: redis.Redis, stream: str, api: DodoPayments, offer_id: str) -> str:
    offer = store.get(client, offer_id)
    if offer is None or offer.state != "charging":
        return f"nothing to do: offer is {offer and offer.state}"
    if not client.set(keys.charge_attempt(offer_id), str(time.time()), nx=True):
        return reconcile(client, stream, api, offer_id)
    if offer.expired():
        fail(client, stream, api, offer, "offer_expired", fallback=False)
        return "not charged: the offer expired before the charge ran"
    if offer.is_plan_change:
        return _change_plan(client, stream, api, offer)
    try:
        method, reason = eligibility.saved_method(api, offer.customer_id)
    except DodoPaymentsError as exc:
        fail(client, stream, api, offer, dodo.error_code(exc))
        return "failed before charging: payment methods unavailable"
    method_id = method.payment_method_id if method is not None else None
    if method_id is None:
        metrics.CHARGES.labels(offer.rule_id, "fallback").inc()
        fail(client, stream, api, offer, reason)
        return f"fallback checkout: {reason}"
    try:
        session = api.checkout_sessions.create(**_checkout_args(offer), payment_method_id=method_id, confirm=True)
    except DodoPaymentsError as exc:
        # Dodo may or may not have charged: never call again. Its payment.succeeded webhook, if
        # the charge went through, moves the offer from failed to converted.
        metrics.CHARGES.labels(offer.rule_id, "call_failed").inc()
        fail(client, stream, api, offer, dodo.error_code(exc))
        return "charge call failed; not retried"
    metrics.CHARGES.labels(offer.rule_id, "sent").inc()
    store.annotate(
        client,
        offer_id,
        "charging",
        {"session_id": session.session_id, "payment_id": session.payment_id, "payment_method_id": method_id},
    )
    return f"charged: session {session.session_id}, waiting for Dodo's payment webhook"


def _change_plan(client: redis.Redis, stream: str, api: DodoPayments, offer: Offer) -> str:
    if not offer.subscription_id:
        fail(client, stream, api, offer, "no_subscription_to_change")
        return "failed: the offer names no subscription"
    try:
        if offer.quote is None:
            store.annotate(client, offer.offer_id, "charging", {"quote": offer_quote(api, offer)})
        args: dict[str, Any] = {
            "product_id": offer.product_id,
            "quantity": offer.quantity,
            "proration_billing_mode": offer.proration,
            "on_payment_failure": offer.on_payment_failure or "prevent_change",
            "metadata": metadata(offer),
        }
        if offer.discount_code:
            args["discount_code"] = offer.discount_code
        result = api.subscriptions.change_plan(offer.subscription_id, **args)
    except DodoPaymentsError as exc:
        metrics.CHARGES.labels(offer.rule_id, "call_failed").inc()
        fail(client, stream, api, offer, dodo.error_code(exc))
        return "plan change call failed; not retried"
    metrics.CHARGES.labels(offer.rule_id, "sent").inc()
    if result.payment_id is None:
        store.transition(client, stream, offer.offer_id, "converted", event_type="offer.converted")
        return "plan changed, nothing billed now"
    store.annotate(client, offer.offer_id, "charging", {"payment_id": result.payment_id})
    return f"plan changed: payment {result.payment_id}, waiting for Dodo's payment webhook"


def reconcile(client: redis.Redis, stream: str, api: DodoPayments, offer_id: str) -> str:
    """An attempt was already made: learn its outcome without charging again."""
    offer = store.get(client, offer_id)
    if offer is None or offer.state != "charging":
        return f"reconciled: offer is {offer and offer.state}"
    if offer.session_id:
        try:
            status = api.checkout_sessions.retrieve(offer.session_id)
        except DodoPaymentsError as exc:
            return f"reconcile deferred: {dodo.error_code(exc)}"
        if status.payment_status == "succeeded":
            store.transition(
                client, stream, offer_id, "converted", {"payment_id": status.payment_id}, event_type="offer.converted"
            )
            return "reconciled: converted"
        if status.payment_status in ("failed", "cancelled"):
            fail(client, stream, api, offer, f"payment_{status.payment_status}")
            return "reconciled: failed"
    started = float(client.get(keys.charge_attempt(offer_id)) or 0)
    if time.time() - started < RECONCILE_AFTER_SECONDS:
        return "attempt in flight or outcome unknown: waiting for Dodo's payment webhook"
    fail(client, stream, api, offer, "charge_outcome_unknown")
    return "gave up waiting: failed (a later payment.succeeded still converts it)"


def schedule_reconcile(pipe: Pipeline, offer: Offer) -> None:
    """At accept: the charge, and a check that resolves the offer if no outcome ever arrives."""
    messages.push(pipe, messages.internal("charge_offer", offer.offer_id))
    schedule.add(
        pipe,
        f"reconcile:{offer.offer_id}",
        time.time() + RECONCILE_AFTER_SECONDS + 5,
        "reconcile_offer",
        offer.offer_id,
    )
