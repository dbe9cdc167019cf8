"""What the app shows with an offer: the product's name and price from Dodo (cached), for plan
changes the amount due now, and whether one click will do (the saved card's brand and last four).

The card part is added only when the app reads an offer through the API: it is a payment detail,
so it is never stored, logged or put in an `offer.*` event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from dodopayments import DodoPayments, DodoPaymentsError

from worker import keys
from worker.offers import eligibility
from worker.offers.model import Offer

PRODUCT_SECONDS = 300.0  # names and prices change rarely
METHOD_SECONDS = 30.0  # a card added or expired shows within half a minute
T = TypeVar("T")


class TtlCache:
    """Values for `seconds`; at most `size` of them (the oldest go first), so a receiver that
    serves millions of customers keeps a bounded dict."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds, self.size = seconds, size
        self._values: dict[str, tuple[float, float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], T], changed_at: float | None = None) -> T:
        """The cached value, unless older than `seconds` or loaded before `changed_at` (wall clock)."""
        with self._lock:
            hit = self._values.get(key)
        fresh = hit is not None and time.monotonic() - hit[0] < self.seconds
        if hit is not None and fresh and (changed_at is None or hit[1] >= changed_at):
            return hit[2]
        loaded_at = time.time()
        value = load()
        with self._lock:
            self._values.pop(key, None)
            self._values[key] = (time.monotonic(), loaded_at, value)  # dicts keep insertion order: oldest first
            while len(self._values) > self.size:
                del self._values[next(iter(self._values))]
        return value


_products = TtlCache(PRODUCT_SECONDS)
_methods = TtlCache(METHOD_SECONDS)


def product_info(api: DodoPayments, product_id: str) -> dict[str, Any]:
    """Name and price (cached); raises DodoPaymentsError (404: Dodo knows no such product)."""
    return _products.get(product_id, lambda: _product(api, product_id))


def _product(api: DodoPayments, product_id: str) -> dict[str, Any]:
    product = api.products.retrieve(product_id)
    price = product.price
    return {
        "product_name": product.name or product_id,
        "price": getattr(price, "price", None),
        "currency": str(getattr(price, "currency", "")) or None,
        "recurring": bool(product.is_recurring),
    }


def for_offer(api: DodoPayments, offer: Offer) -> dict[str, Any]:
    """The offer's display; `complete: false` when Dodo could not be asked (filled in on a later read)."""
    try:
        shown = dict(_products.get(offer.product_id, lambda: _product(api, offer.product_id)))
    except (DodoPaymentsError, ValueError, TypeError, AttributeError):
        return {"complete": False}
    if offer.is_plan_change:
        shown["amount_now"] = offer.quote["total_amount"] if offer.quote else None
    return shown | {"complete": True}


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
    shown = offer.display if offer.display and offer.display.get("complete") else for_offer(api, offer)
    if offer.is_plan_change and offer.quote:
        shown = {**shown, "amount_now": offer.quote["total_amount"]}
    if offer.state == "pending" and not offer.is_plan_change:
        changed: Any = client.get(keys.methods_changed(offer.customer_id))
        shown = {**shown, **one_click(api, offer.customer_id, float(changed) if changed else None)}
    return {**view, "display": shown}
