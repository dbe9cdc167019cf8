"""The price an offer shows is the price its charge asks: the product's list price (cached from
Dodo), less what its discount code takes off, as Dodo's discount says (worker/discounts.py).

Shown when the offer is made; asked again right before the charge, with the code read afresh, so a
code that expired, was used up or was edited in between fails the offer instead of charging it at
a price the customer never saw.
"""

from __future__ import annotations

from typing import Any

from dodopayments import DodoPayments

from worker import discounts, products
from worker.offers.model import Offer


def priced(api: DodoPayments, offer: Offer, fresh: bool = False) -> tuple[dict[str, Any], str | None]:
    """Name, list `price` (one unit), `price_now` (the charge: quantity times price, less the
    discount) and the discount's terms; and why the code cannot apply (then `price_now` is the list
    total). Raises DodoPaymentsError when Dodo cannot be asked. `fresh`: the code is not read from
    the cache (the check before money moves)."""
    product = products.info(api, offer.product_id)
    price, currency = product["price"], product["currency"]
    subtotal = price * offer.quantity if isinstance(price, int) else None
    shown = dict(product) | {"price_now": subtotal, "discount": None}
    code = offer.discount_code
    if not code:
        return shown, None
    found = discounts.fetch(api, code) if fresh else discounts.cached(api, code)
    if fresh:
        discounts.remember(code, found)
    why = discounts.unusable(found, offer.product_id, currency, subtotal)
    if why or found is None or subtotal is None or not currency:
        return shown, why
    price_now = subtotal - discounts.amount_off(found, subtotal, currency)
    return shown | {"discount": discounts.terms(found, currency), "price_now": price_now}, None


def charge_blocker(api: DodoPayments, offer: Offer) -> str | None:
    """Right before the charge: why it must not run at all (None: it may). The code is read again
    (unknown, expired, used up, restricted...: its reason), and a one-click price above the one
    shown is `price_changed`. Raises DodoPaymentsError when Dodo cannot be asked."""
    now, unavailable = priced(api, offer, fresh=bool(offer.discount_code))
    if unavailable:
        return unavailable
    shown = offer.display or {}
    if offer.is_plan_change or not shown.get("complete") or shown.get("price_now") is None:
        return None  # plan changes charge their quote (re-made at accept); nothing shown: nothing to hold to
    if now["price_now"] is not None and now["price_now"] > shown["price_now"]:
        return "price_changed"
    return None
