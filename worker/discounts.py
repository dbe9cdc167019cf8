"""Discount codes as Dodo has them (`discounts.retrieve_by_code`): whether one can apply to an
upsell, and what it takes off, so the price an offer shows is the price its charge asks.

An upsell goes to a customer who has bought before, so a `first_time` code never applies, and a
`specific` one is refused too (the SDK cannot say who is attached). Dodo stays the judge at the
charge: a code it refuses there fails the offer, never charges it at another price.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dodopayments import APIStatusError, DodoPayments
from dodopayments.types import Discount

from worker.products import TtlCache

DISCOUNT_SECONDS = 60.0  # usage counts move: a used-up code shows within a minute (the charge asks afresh)

_cached = TtlCache(DISCOUNT_SECONDS, size=1_000)


def fetch(api: DodoPayments, code: str) -> Discount | None:
    """The code as Dodo has it now (None: Dodo knows no such code); other errors raise."""
    try:
        return api.discounts.retrieve_by_code(code)
    except APIStatusError as exc:
        if exc.status_code == 404:
            return None
        raise


def cached(api: DodoPayments, code: str) -> Discount | None:
    """`fetch`, kept a minute: for showing offers, never for the check before money moves."""
    return _cached.get(code.upper(), lambda: fetch(api, code))


def remember(code: str, found: Discount | None) -> None:
    _cached.put(code.upper(), found)


def _option(discount: Discount, currency: str) -> Any:
    return next((o for o in discount.currency_options or [] if str(o.currency).upper() == currency.upper()), None)


def unusable(
    discount: Discount | None, product_id: str, currency: str | None, subtotal: int | None, now: datetime | None = None
) -> str | None:
    """Why this code cannot apply to an upsell of `product_id` (None: it can)."""
    if discount is None:
        return "discount_unknown"
    now = now or datetime.now(UTC)
    if discount.starts_at and now < discount.starts_at:
        return "discount_not_started"
    if discount.expires_at and now >= discount.expires_at:
        return "discount_expired"
    if discount.usage_limit is not None and discount.times_used >= discount.usage_limit:
        return "discount_used_up"
    if discount.restricted_to and product_id not in discount.restricted_to:
        return "discount_restricted"
    if discount.customer_eligibility == "first_time":
        return "discount_first_time_only"
    if discount.customer_eligibility == "specific":
        return "discount_specific_customers"
    option = _option(discount, currency or "")
    if str(discount.type) == "flat" and (option is None or not option.max_amount_possible):
        return "discount_currency"
    if option is not None and subtotal is not None and subtotal < option.minimum_subtotal:
        return "discount_minimum"
    return None


def amount_off(discount: Discount, subtotal: int, currency: str) -> int:
    """What the code takes off `subtotal`: a percentage (`amount` basis points, rounded half up,
    capped by the currency's `max_amount_possible`), or a flat deduction; never below zero."""
    option = _option(discount, currency)
    if str(discount.type) == "flat":
        off = option.max_amount_possible if option is not None and option.max_amount_possible else 0
    else:
        off = (subtotal * discount.amount + 5_000) // 10_000
        if option is not None and option.max_amount_possible:
            off = min(off, option.max_amount_possible)
    return max(0, min(off, subtotal))


def terms(discount: Discount, currency: str | None) -> dict[str, Any]:
    """What the app and the stats show of a code: its code, type, amount (basis points for a
    percentage, minor units for a flat code) and when it ends."""
    option = _option(discount, currency or "")
    flat = str(discount.type) == "flat"
    return {
        "code": discount.code,
        "type": str(discount.type),
        "amount": (option.max_amount_possible if option is not None else None) if flat else discount.amount,
        "ends_at": discount.expires_at.isoformat().replace("+00:00", "Z") if discount.expires_at else None,
    }
