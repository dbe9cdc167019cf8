"""Settling a charge whose outcome is unknown from Dodo's own records, never by charging again.

After accept, reconcile jobs run 1 m, 5 m, 15 m, 1 h, 6 h and 24 h after the attempt, until the
offer is settled (Dodo's payment webhook may settle it first). Each looks at the checkout session
when its id is known, else at the customer's payments created since the attempt whose metadata
carries the offer id (for a plan change, also whether the subscription is now on the product).
Only a settled "no payment" fails the offer with a fallback checkout; after the last look the offer
never stays `charging`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from dodopayments import DodoPayments, DodoPaymentsError
from redis.client import Pipeline

from worker import dodo, keys
from worker.access import payments
from worker.offers import outcome, store
from worker.offers.model import Offer
from worker.queue import schedule

log = structlog.get_logger("charge")
STEPS = (60, 300, 900, 3600, 6 * 3600, 24 * 3600)  # seconds after the attempt
CLOCK_SKEW_SECONDS = 600  # payments listed from this long before the attempt: our clock and Dodo's differ
PAGE_SIZE = 100
NEVER_STARTED_STEP = 2  # a charge not started by the 15-minute look is claimed here, so it never starts


@dataclass(frozen=True)
class Verdict:
    """What Dodo's records say: paid (with the payment), not paid, or not settled yet."""

    state: str  # "paid", "unpaid", "pending", "none_found"
    payment_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    code: str = ""


def schedule_step(pipe: Pipeline, offer_id: str, step: int, attempt_at: float) -> None:
    """Look number `step`, STEPS[step] after the attempt (or the accept, while no attempt started)."""
    due = max(attempt_at + STEPS[step], time.time())
    schedule.add(pipe, f"reconcile:{offer_id}:{step}", due, "reconcile_offer", offer_id, str(step), repr(attempt_at))


def look(api: DodoPayments, offer: Offer, since: float) -> Verdict:
    if offer.session_id:
        session = api.checkout_sessions.retrieve(offer.session_id)
        if session.payment_status == "succeeded" and session.payment_id:
            paid = api.payments.retrieve(session.payment_id)
            return Verdict("paid", paid.payment_id, payments.net_amount(paid), str(paid.currency))
        if session.payment_status in ("failed", "cancelled"):
            return Verdict("unpaid", code=f"payment_{session.payment_status}")
    for item in _payments_since(api, offer.customer_id, since - CLOCK_SKEW_SECONDS):
        if (item.metadata or {}).get("upsell_offer_id") != offer.offer_id:
            continue
        if item.status == "succeeded":  # the list gives no tax: the payment itself says
            paid = api.payments.retrieve(item.payment_id)
            return Verdict("paid", paid.payment_id, payments.net_amount(paid), str(paid.currency))
        if item.status in ("failed", "cancelled"):
            return Verdict("unpaid", code=f"payment_{item.status}")
        return Verdict("pending")
    if offer.is_plan_change and offer.subscription_id:
        if api.subscriptions.retrieve(offer.subscription_id).product_id == offer.product_id:
            return Verdict("paid")  # changed, nothing billed
    return Verdict("pending" if offer.session_id else "none_found")


def _payments_since(api: DodoPayments, customer_id: str, since: float) -> list[Any]:
    found: list[Any] = []
    for number in range(100):  # 10,000 payments since the attempt: more is not one customer's
        page = api.payments.list(
            customer_id=customer_id, created_at_gte=_iso(since), page_size=PAGE_SIZE, page_number=number
        )
        found.extend(page.items)
        if len(page.items) < PAGE_SIZE:
            break
    return found


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def reconcile(client: redis.Redis, stream: str, api: DodoPayments, offer_id: str, step: int, accepted_at: float) -> str:
    offer = store.get(client, offer_id)
    if offer is None or offer.state != "charging":
        return f"settled already: offer is {offer and offer.state}"
    now = time.time()
    started = client.get(keys.charge_attempt(offer_id))
    if started is None and step < NEVER_STARTED_STEP:  # the charge message is still queued: wait for it
        with client.pipeline() as pipe:
            schedule_step(pipe, offer_id, step + 1, accepted_at)
            pipe.execute()
        return "the charge has not started yet: looking again later"
    if started is None and client.set(keys.charge_attempt(offer_id), str(now), nx=True):
        outcome.fail(client, stream, api, offer, "charge_never_attempted", fallback=not offer.is_plan_change)
        return "no charge started within 15 minutes (and now none will): failed with a fallback"
    attempt_at = float(client.get(keys.charge_attempt(offer_id)) or now)
    try:
        verdict = look(api, offer, attempt_at)
    except DodoPaymentsError as exc:
        log.warning("reconcile_look_failed", error_code=dodo.error_code(exc), step=step)
        verdict = Verdict("pending", code=dodo.error_code(exc))
    last = step + 1 >= len(STEPS)
    if verdict.state == "paid":
        outcome.convert(client, stream, offer_id, verdict.payment_id, verdict.amount, verdict.currency)
        return f"converted: payment {verdict.payment_id}"
    if verdict.state == "unpaid" or (verdict.state == "none_found" and last):
        code = verdict.code or "no_payment_made"
        outcome.fail(client, stream, api, offer, code, fallback=not offer.is_plan_change)
        return f"Dodo's records say no payment: failed ({code})"
    if last:
        outcome.fail(client, stream, api, offer, "charge_outcome_unknown", fallback=False)
        return "still unknown after the last reconcile: failed without a fallback (a payment webhook still converts it)"
    with client.pipeline() as pipe:
        schedule_step(pipe, offer_id, step + 1, attempt_at)
        pipe.execute()
    return f"not settled yet ({verdict.state}): next look {STEPS[step + 1]} s after the attempt"
