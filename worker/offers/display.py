"""What the app shows with an offer: the product's name, its list price and the price the charge
will ask after the discount (offers/pricing.py), for plan changes the amount due now, and whether
one click will do (the saved card's brand and last four).

The card part is added only when the app reads an offer through the API: it is a payment detail,
so it is never stored, logged or put in an `offer.*` event.
"""

from __future__ import annotations

from typing import Any

import redis
from dodopayments import DodoPayments, DodoPaymentsError

from worker import keys, products
from worker.offers import eligibility, pricing
from worker.offers.model import Offer

METHOD_SECONDS = 30.0  # a card added or expired shows within half a minute


_methods = products.TtlCache(METHOD_SECONDS)


def for_offer(api: DodoPayments, offer: Offer) -> tuple[dict[str, Any], str | None]:
    """The offer's display, and why its discount code cannot apply (None: it can, or it has none).
    `complete: false` when Dodo could not be asked (filled in on a later read)."""
    try:
        priced, unavailable = pricing.priced(api, offer)
    except (DodoPaymentsError, ValueError, TypeError, AttributeError):
        return {"complete": False}, None
    if offer.discount_unavailable or unavailable:  # shown at list price: the charge will not run at another
        priced["discount_unavailable"] = offer.discount_unavailable or unavailable
    return priced | _quoted(offer) | {"complete": True}, unavailable


def settle_price(api: DodoPayments, offer: Offer, on_unavailable: str) -> str | None:
    """Fill in the offer's display; returns why its code cannot apply (None: it can, or none).
    With `full_price` the offer goes on without the code, and its display says why; with `skip`
    the caller makes no offer."""
    offer.display, unavailable = for_offer(api, offer)
    if unavailable and on_unavailable == "full_price":
        offer.discount_code, offer.discount_unavailable = None, unavailable
        offer.display, _ = for_offer(api, offer)
    return unavailable


def _quoted(offer: Offer) -> dict[str, Any]:
    """A plan change charges what its quote says (Dodo's preview, discount included)."""
    if not offer.is_plan_change:
        return {}
    amount = offer.quote["total_amount"] if offer.quote else None
    return {"amount_now": amount, "price_now": amount}


def one_click(api: DodoPayments, customer_id: str, changed_at: float | None = None) -> dict[str, Any]:
    """Whether accepting will charge a saved card now, and which one (for the app to show); an
    answer cached before the customer last changed a card (`changed_at`) is asked again."""
    try:
        load = lambda: eligibility.saved_method(api, customer_id)  # noqa: E731
        method, reason = _methods.get(customer_id, load, changed_at)
    except (DodoPaymentsError, ValueError, TypeError, AttributeError):
        return {"one_click": None, "one_click_reason": "dodo_unavailable"}
    if method is None:
        return {"one_click": False, "one_click_reason": reason}
    card = method.card
    brand = (card.card_network if card else None) or method.payment_method
    return {
        "one_click": True,
        "payment_method": {"brand": str(brand) if brand else None, "last4": card.last4_digits if card else None},
    }


def for_app(api: DodoPayments, offer: Offer, client: redis.Redis) -> dict[str, Any]:
    """The offer as the app reads it: display filled in if it was not, and the one-click answer
    for offers still open (plan changes charge the subscription's own method: no card shown)."""
    view = offer.view()
    shown = offer.display if offer.display and offer.display.get("complete") else for_offer(api, offer)[0]
    shown = {**shown, **_quoted(offer)} if offer.quote else shown
    if offer.state == "pending" and not offer.is_plan_change:
        changed: Any = client.get(keys.methods_changed(offer.customer_id))
        shown = {**shown, **one_click(api, offer.customer_id, float(changed) if changed else None)}
    return {**view, "display": shown}
