"""Plan changes as the customer saw them: the quote is made with exactly the arguments the change
will use (product, quantity, proration, discount, the subscription's current add-ons, when it takes
effect), read from Dodo when each is made. Leaving `addons` out of a change removes them (SDK)."""

from __future__ import annotations

import time
from typing import Any

from dodopayments import DodoPayments
from dodopayments.types import Subscription

from worker.offers.model import Offer

REQUOTE_AFTER_SECONDS = 10 * 60  # at accept, a quote older than this is made again


def args_for(
    subscription: Subscription, product_id: str, quantity: int, proration: Any, **extra: Any
) -> dict[str, Any]:
    """The change's arguments, the subscription's add-ons carried over as they are now."""
    addons = [{"addon_id": a.addon_id, "quantity": a.quantity} for a in subscription.addons or []]
    args: dict[str, Any] = {
        "product_id": product_id,
        "quantity": quantity,
        "proration_billing_mode": proration,
        "addons": addons,
    }
    return args | {k: v for k, v in extra.items() if v is not None}


def offer_args(subscription: Subscription, offer: Offer) -> dict[str, Any]:
    return args_for(
        subscription,
        offer.product_id,
        offer.quantity,
        offer.proration,
        discount_codes=[offer.discount_code] if offer.discount_code else None,
        effective_at=offer.effective_at,
    )


def quote_of(api: DodoPayments, subscription_id: str, args: dict[str, Any]) -> dict[str, Any]:
    """What the change would charge now, as the app shows it to the customer."""
    preview = api.subscriptions.preview_change_plan(subscription_id, **args)
    summary = preview.immediate_charge.summary
    return {
        "total_amount": summary.total_amount,
        "currency": str(summary.currency),
        "customer_credits": summary.customer_credits,
        "tax": summary.tax,
        "effective_at": preview.immediate_charge.effective_at.isoformat(),
        "proration": args["proration_billing_mode"],
        "quoted_at": time.time(),
    }


def preview(api: DodoPayments, subscription_id: str, product_id: str, quantity: int, proration: Any) -> dict[str, Any]:
    """`GET .../change-preview`: the subscription's add-ons included, as a change would keep them."""
    subscription = api.subscriptions.retrieve(subscription_id)
    return quote_of(api, subscription_id, args_for(subscription, product_id, quantity, proration))


def offer_quote(api: DodoPayments, offer: Offer) -> dict[str, Any]:
    assert offer.subscription_id
    subscription = api.subscriptions.retrieve(offer.subscription_id)
    return quote_of(api, offer.subscription_id, offer_args(subscription, offer))


def stale(offer: Offer, now: float) -> bool:
    return offer.quote is None or now - float(offer.quote.get("quoted_at") or 0) > REQUOTE_AFTER_SECONDS


def blocker(subscription: Subscription, offer: Offer) -> str | None:
    """Why this change must not be made on this subscription now (None: it may)."""
    if subscription.customer.customer_id != offer.customer_id:
        return "subscription_not_owned"
    if str(subscription.status) != "active":
        return "subscription_not_active"
    if subscription.product_id == offer.product_id:
        return "already_on_product"
    return None
