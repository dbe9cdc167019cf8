"""What each handled webhook does: strict parse, then idempotent effects on access, offers and rules."""

from __future__ import annotations

import structlog
from dodopayments.types import (
    Payment,
    PaymentFailedWebhookEvent,
    PaymentSucceededWebhookEvent,
    SubscriptionActiveWebhookEvent,
    SubscriptionPlanChangedWebhookEvent,
)

from worker import keys
from worker.access import grants
from worker.context import Context
from worker.offers import charge, making, store
from worker.rules.match import Facts
from worker.webhooks.parse import parse

log = structlog.get_logger("worker")

Event = (
    PaymentSucceededWebhookEvent
    | PaymentFailedWebhookEvent
    | SubscriptionActiveWebhookEvent
    | SubscriptionPlanChangedWebhookEvent
)


def access_update(webhook_id: str, event: Event) -> grants.Update | None:
    """The access change an event asks for: subscriptions by subscription id, one-time items by payment id."""
    customer_id = event.data.customer.customer_id
    if isinstance(event, SubscriptionActiveWebhookEvent | SubscriptionPlanChangedWebhookEvent):
        sub = event.data
        kind = "access.changed" if isinstance(event, SubscriptionPlanChangedWebhookEvent) else "access.granted"
        items: list[tuple[str, str, str | None]] = [(sub.subscription_id, sub.subscription_id, sub.product_id)]
        return grants.Update(webhook_id, customer_id, event.timestamp, kind, items)
    if isinstance(event, PaymentSucceededWebhookEvent) and event.data.subscription_id is None:
        payment = event.data
        items = [
            (f"{payment.payment_id}/{item.product_id}", payment.payment_id, item.product_id)
            for item in payment.product_cart or []
        ]
        return grants.Update(webhook_id, customer_id, event.timestamp, "access.granted", items) if items else None
    return None


def trigger_of(webhook_id: str, event_type: str, event: Event) -> making.Trigger:
    """The facts rules test, from a payment or a subscription."""
    data = event.data
    products: tuple[str, ...]
    if isinstance(data, Payment):
        products, amount = tuple(item.product_id for item in data.product_cart or []), data.total_amount
    else:
        products, amount = (data.product_id,), data.recurring_pre_tax_amount
    metadata = {k: str(v) for k, v in (data.metadata or {}).items()}
    facts = Facts(event_type, data.customer.customer_id, products, str(data.currency), amount, metadata)
    return making.Trigger(facts, webhook_id, subscription_id=data.subscription_id)


def close_offer(ctx: Context, webhook_id: str, event: PaymentSucceededWebhookEvent | PaymentFailedWebhookEvent) -> None:
    """A payment carrying `upsell_offer_id` settles that offer: converted, or failed with a fallback."""
    offer_id = str((event.data.metadata or {}).get("upsell_offer_id"))
    structlog.contextvars.bind_contextvars(offer_id=offer_id)
    offer = store.get(ctx.client, offer_id)
    if offer is None or offer.customer_id != event.data.customer.customer_id:
        log.warning("payment_names_unknown_offer")
        return
    if isinstance(event, PaymentSucceededWebhookEvent):
        moved, _ = store.transition(
            ctx.client,
            ctx.stream,
            offer.offer_id,
            "converted",
            {"payment_id": event.data.payment_id, "error_code": None},
            event_type="offer.converted",
            source=webhook_id,
        )
    elif offer.state == "charging":
        charge.fail(
            ctx.client,
            ctx.stream,
            ctx.dodo,
            offer,
            event.data.error_code or "payment_failed",
            webhook_id,
            {"payment_id": event.data.payment_id},
        )
        moved = True
    else:
        moved = False
    log.info("offer_settled_by_payment" if moved else "offer_already_settled", state=offer.state)


def handle(ctx: Context, event_type: str, webhook_id: str, body: str) -> None:
    """Each step is idempotent on its own (access by its done mark, offers and jobs by ids derived
    from the webhook-id), so a redelivered message re-runs safely; the processed mark is for
    operators and tests, and costs no extra read on the hot path."""
    event = parse(event_type, body)
    customer_id = event.data.customer.customer_id
    structlog.contextvars.bind_contextvars(customer_id=customer_id)
    book = ctx.book.get()
    trigger = trigger_of(webhook_id, event_type, event)
    settles_offer = isinstance(
        event, PaymentSucceededWebhookEvent | PaymentFailedWebhookEvent
    ) and "upsell_offer_id" in (event.data.metadata or {})
    follows = settles_offer or bool(book.index.candidates(trigger.facts))
    update = access_update(webhook_id, event)
    state, emitted, finished = None, None, False
    if update is not None:
        unknown = [product for _, _, product in update.items if product not in book.access.products]
        if unknown:
            log.info("products_grant_nothing", products=unknown, hint="add them to access.yaml to grant access")
        emitted, state, finished = grants.apply(
            ctx.client, ctx.stream, book.access, update, None if follows else keys.processed(webhook_id)
        )
    if settles_offer:
        close_offer(ctx, webhook_id, event)
    outcomes = making.run(ctx.client, ctx.stream, book, trigger, state) if follows else []
    if not finished:
        ctx.client.set(keys.processed(webhook_id), "1", ex=keys.DONE_TTL)
    log.info(
        "webhook_processed",
        access_event=emitted and emitted["type"],
        access_event_id=emitted and emitted["id"],
        rules=outcomes,
    )
