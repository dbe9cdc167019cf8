"""One handled webhook: strict parse, its catalog effect on access, offers it settles, then rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from dodopayments import DodoPaymentsError
from dodopayments.types import Payment, Refund

from worker import catalog, events, keys, timeline
from worker.access import grants, payments
from worker.access.config import AccessConfig
from worker.context import Context
from worker.offers import making, outcome, store
from worker.queue.errors import PermanentError
from worker.stats import counters, lift
from worker.webhooks import guardrails
from worker.webhooks.effects import Lookup, Outcome
from worker.webhooks.parse import parse
from worker.webhooks.table import EFFECTS

log = structlog.get_logger("worker")


def outcome_of(config: AccessConfig, lookup: Lookup, event_type: str, webhook_id: str, body: str) -> Outcome:
    """What the event means under the policy in force; shared by the worker and `rules explain`."""
    return effect_of(config, lookup, event_type, webhook_id, parse(event_type, body))


def effect_of(config: AccessConfig, lookup: Lookup, event_type: str, webhook_id: str, event: Any) -> Outcome:
    hook = catalog.BY_TYPE[event_type]
    return EFFECTS[hook](lookup, config, hook, webhook_id, event)


def payment_lookup(ctx: Context) -> Lookup:
    def lookup(payment_id: str) -> payments.PaymentRecord:
        try:
            return payments.lookup(ctx.client, ctx.dodo, payment_id)
        except DodoPaymentsError as exc:
            if getattr(exc, "status_code", None) == 404:
                raise PermanentError(f"payment {payment_id} is unknown to Dodo") from None
            raise  # Dodo briefly away: Dramatiq retries

    return lookup


def close_offer(ctx: Context, webhook_id: str, payment: Payment, succeeded: bool, at: datetime) -> None:
    """A payment carrying `upsell_offer_id` settles that offer: converted, or failed with a fallback."""
    offer_id = str((payment.metadata or {}).get("upsell_offer_id"))
    structlog.contextvars.bind_contextvars(offer_id=offer_id)
    offer = store.get(ctx.client, offer_id)
    if offer is None or offer.customer_id != payment.customer.customer_id:
        log.warning("payment_names_unknown_offer")
        return
    if succeeded:
        amount, currency = payments.net_amount(payment), str(payment.currency)
        moved = outcome.convert(
            ctx.client, ctx.stream, offer.offer_id, payment.payment_id, amount, currency, webhook_id, at
        )
    elif offer.state == "charging":
        code = payment.error_code or "payment_failed"
        changes = {"payment_id": payment.payment_id}
        fallback = not offer.is_plan_change
        outcome.fail(ctx.client, ctx.stream, ctx.dodo, offer, code, webhook_id, changes, fallback, at)
        moved = True
    else:
        moved = False
    log.info("offer_settled_by_payment" if moved else "offer_already_settled", state=offer.state)


def count_refund(ctx: Context, refund: Refund) -> None:
    """A refund of a payment that converted an offer counts against that offer's rule: once per
    refund id, partial refunds adding up to at most the payment's amount."""
    record = payment_lookup(ctx)(refund.payment_id)
    offer = store.get(ctx.client, record.offer_id) if record.offer_id else None
    if offer is None:
        return
    amount = refund.amount if refund.amount is not None else record.amount or 0  # none given: the whole payment
    currency = str(refund.currency or "")
    counted = counters.refund(ctx.client, refund.refund_id, refund.payment_id, offer, amount, currency, record.amount)
    log.info("refund_counted", offer_id=offer.offer_id, rule_id=offer.rule_id, amount=counted)


def count_lift(ctx: Context, outcome: Outcome, at: datetime) -> None:
    """Every payment of a customer a holdout rule matched counts toward that rule's lift, net of refunds."""
    payment, refund = outcome.payment, outcome.refund
    refunds = None
    if outcome.paid and payment is not None:
        amount, currency, counted_id = payment.total_amount, str(payment.currency), payment.payment_id
    elif refund is not None and refund.amount:
        amount, currency, counted_id = -refund.amount, str(refund.currency or ""), f"refund:{refund.refund_id}"
        refunds = refund.payment_id
    else:
        return
    rules = lift.payment(ctx.client, outcome.customer_id, counted_id, amount, currency, at.timestamp(), refunds)
    if rules:
        log.info("lift_counted", rules=rules, amount=amount, currency=currency)


def handle(ctx: Context, event_type: str, webhook_id: str, body: str) -> None:
    """Each step is idempotent on its own (access by its done mark, offers and jobs by ids derived
    from the webhook-id), so a redelivered message re-runs safely; the processed mark is for
    operators and tests, and costs no extra write on the hot path."""
    book = ctx.book.get()
    event = parse(event_type, body)
    lookup = payment_lookup(ctx)
    outcome = effect_of(book.access, lookup, event_type, webhook_id, event)
    structlog.contextvars.bind_contextvars(customer_id=outcome.customer_id)
    index = payments.index_entry(outcome.payment) if outcome.payment is not None else None
    if index is not None and outcome.update is None:
        ctx.client.set(index[0], index[1], ex=index[2])
    paid = outcome.payment.payment_id if outcome.payment is not None else None
    payment = outcome.payment
    settles_offer = payment is not None and "upsell_offer_id" in (payment.metadata or {})
    moot = outcome.moots_offers_of
    follows = settles_offer or outcome.suppresses or bool(moot) or bool(book.index.candidates(outcome.facts))
    at: datetime = event.timestamp  # offer events occur at their cause's time
    cause = at.isoformat() if follows else None  # only rules and offers read it
    trigger = making.Trigger(
        outcome.facts, webhook_id, subscription_id=outcome.subscription_id, payment_id=paid, at=cause
    )
    state, emitted, finished = None, None, False
    note = timeline.entry(event_type, events.iso(at), webhook_id, "webhook")  # the customer's console timeline
    if outcome.update is not None:
        products = [c.product_id for c in outcome.update.changes if c.product_id]
        unknown = [product for product in products if book.access.grant("", product) is None]
        if unknown:
            log.info("products_grant_nothing", products=unknown, hint="add them to access.yaml to grant access")
        finish = None if follows else keys.processed(webhook_id)
        emitted, state, finished = grants.apply(
            ctx.client, ctx.stream, book.access, outcome.update, finish, index, note=note
        )
    if settles_offer and payment is not None and outcome.paid is not None:  # processing: still charging
        close_offer(ctx, webhook_id, payment, outcome.paid, at)
    if outcome.methods_changed:
        ctx.client.set(keys.methods_changed(outcome.customer_id), at.timestamp(), ex=keys.METHODS_CHANGED_TTL)
    if outcome.refund is not None:
        count_refund(ctx, outcome.refund)
    if book.holdouts:
        count_lift(ctx, outcome, at)
    if outcome.disputed or outcome.cancelled:
        guardrails.count(ctx, outcome, lookup, at)
    if outcome.suppresses:
        expired = store.expire_pending(ctx.client, ctx.stream, outcome.customer_id, webhook_id, at)
        if expired:
            log.info("pending_offers_expired", offers=expired, reason="refund or open dispute")
    if moot:
        expired = store.expire_pending(ctx.client, ctx.stream, outcome.customer_id, webhook_id, at, made_by=moot)
        if expired:
            log.info("pending_offers_expired", offers=expired, reason=f"what {moot} offered for happened")
    outcomes = making.run(ctx.client, ctx.stream, book, trigger, state, ctx.dodo) if follows else []
    if not finished:  # else the commit set the mark, and the webhook's line or its access event's
        with ctx.client.pipeline(transaction=False) as pipe:
            timeline.push(pipe, outcome.customer_id, note)
            pipe.set(keys.processed(webhook_id), "1", ex=keys.DONE_TTL)
            pipe.execute()
    access_event = emitted and emitted["type"]
    log.info("webhook_processed", access_event=access_event, access_event_id=emitted and emitted["id"], rules=outcomes)
