"""Dodo's discount codes as the emulator keeps them: seeded like products (keyed by code), shown in
the SDK's `Discount` shape, applied to checkouts and plan changes, and refused when they cannot
apply, with the checks in the order Dodo documents them (existence, window, limits, products,
customer, currency and minimum)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from emulator.state import State


class Refused(Exception):
    """The code cannot apply to this cart: answered 422 with `code` and a plain message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def discount_id(code: str) -> str:
    return "dsc_" + hashlib.sha256(code.encode()).hexdigest()[:16]


def shape(code: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The SDK's `Discount` for a seeded spec (every field Dodo returns, none invented)."""
    return {
        "discount_id": discount_id(code),
        "business_id": "bus_emulator",
        "code": code,
        "name": spec.get("name"),
        "created_at": "2025-01-01T00:00:00Z",
        "type": spec.get("type", "percentage"),
        "amount": int(spec.get("amount", 0)),
        "currency_options": [_option(o) for o in spec.get("currency_options") or []],
        "restricted_to": list(spec.get("restricted_to") or []),
        "customer_eligibility": spec.get("customer_eligibility", "any"),
        "starts_at": spec.get("starts_at"),
        "expires_at": spec.get("expires_at"),
        "usage_limit": spec.get("usage_limit"),
        "per_customer_usage_limit": spec.get("per_customer_usage_limit"),
        "times_used": int(spec.get("times_used", 0)),
        "subscription_cycles": spec.get("subscription_cycles"),
        "preserve_on_plan_change": bool(spec.get("preserve_on_plan_change", False)),
        "metadata": spec.get("metadata") or {},
    }


def _option(option: dict[str, Any]) -> dict[str, Any]:
    return {
        "currency": option["currency"],
        "is_default": bool(option.get("is_default", False)),
        "minimum_subtotal": int(option.get("minimum_subtotal", 0)),
        "max_amount_possible": option.get("max_amount_possible"),
    }


def detail(code: str, spec: dict[str, Any], position: int) -> dict[str, Any]:
    """The `DiscountDetail` a payment lists for each code applied to it."""
    found = shape(code, spec)
    keep = ("amount", "business_id", "code", "created_at", "discount_id", "metadata", "preserve_on_plan_change")
    more = ("restricted_to", "times_used", "type", "expires_at", "name", "subscription_cycles", "usage_limit")
    return {k: found[k] for k in keep + more} | {"position": position, "cycles_remaining": None}


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class Discounts:
    """The seeded codes and how often each customer redeemed each."""

    def __init__(self) -> None:
        self.known: dict[str, dict[str, Any]] = {}
        self.uses: dict[str, dict[str, int]] = {}

    def seed(self, specs: dict[str, dict[str, Any]]) -> None:
        self.known.update({code.upper(): dict(spec) for code, spec in specs.items()})

    @staticmethod
    def codes_of(body: dict[str, Any]) -> list[str]:
        """`discount_codes` (stacked, in order) or the deprecated single `discount_code`."""
        if body.get("discount_code") and body.get("discount_codes"):
            raise Refused("INVALID_REQUEST", "discount_code and discount_codes cannot be used together")
        codes = body.get("discount_codes") or ([body["discount_code"]] if body.get("discount_code") else [])
        return [str(code).upper() for code in codes]

    def amount_off(
        self, codes: list[str], customer_id: str, product_id: str, subtotal: int, currency: str, world: State
    ) -> int:
        """How much the codes take off `subtotal` (stacked in order); raises Refused for the first
        that cannot apply."""
        taken = 0
        for code in codes:
            spec = self.known.get(code)
            if spec is None:
                raise Refused("DISCOUNT_NOT_FOUND", f"discount code {code} does not exist")
            uses = self.uses.get(customer_id, {}).get(code, 0)
            _check(code, spec, product_id, customer_id, uses, world.returning(customer_id))
            taken += _amount_off(code, spec, subtotal - taken, currency)
        return min(taken, subtotal)

    def redeem(self, customer_id: str, codes: list[str]) -> list[dict[str, Any]]:
        """A payment succeeded with these codes: each counts once toward its limits; returns the
        payment's `discounts`."""
        mine = self.uses.setdefault(customer_id, {})
        for code in codes:
            self.known[code]["times_used"] = int(self.known[code].get("times_used", 0)) + 1
            mine[code] = mine.get(code, 0) + 1
        return [detail(code, self.known[code], n) for n, code in enumerate(codes)]


def _check(code: str, spec: dict[str, Any], product_id: str, customer_id: str, uses: int, returning: bool) -> None:
    now = datetime.now(UTC)
    starts, ends = _moment(spec.get("starts_at")), _moment(spec.get("expires_at"))
    if starts and now < starts:
        raise Refused("DISCOUNT_NOT_ACTIVE", f"discount code {code} is not active yet")
    if ends and now >= ends:
        raise Refused("DISCOUNT_EXPIRED", f"discount code {code} has expired")
    limit = spec.get("usage_limit")
    if limit is not None and int(spec.get("times_used", 0)) >= limit:
        raise Refused("DISCOUNT_USAGE_LIMIT_REACHED", f"discount code {code} has been used up")
    per_customer = spec.get("per_customer_usage_limit")
    if per_customer is not None and uses >= per_customer:
        raise Refused("DISCOUNT_USAGE_LIMIT_REACHED", f"discount code {code} was used up by this customer")
    restricted = spec.get("restricted_to") or []
    if restricted and product_id not in restricted:
        raise Refused("DISCOUNT_NOT_APPLICABLE", f"discount code {code} does not apply to {product_id}")
    eligibility = spec.get("customer_eligibility", "any")
    if eligibility == "first_time" and returning:
        raise Refused("DISCOUNT_NOT_ELIGIBLE", f"discount code {code} is for first-time customers")
    if eligibility == "existing" and not returning:
        raise Refused("DISCOUNT_NOT_ELIGIBLE", f"discount code {code} is for existing customers")
    if eligibility == "specific" and customer_id not in spec.get("customers", ()):
        raise Refused("DISCOUNT_NOT_ELIGIBLE", f"discount code {code} is for specific customers")


def _amount_off(code: str, spec: dict[str, Any], subtotal: int, currency: str) -> int:
    """Percentage: `amount` basis points of the subtotal, rounded half up, capped per currency;
    flat: the currency row's deduction. A currency with no row uses the default row only if it is
    in the same currency (the emulator converts nothing)."""
    rows = {str(o["currency"]).upper(): o for o in spec.get("currency_options") or []}
    row = rows.get(currency.upper())
    if row is not None and subtotal < int(row.get("minimum_subtotal", 0)):
        raise Refused("DISCOUNT_MINIMUM_NOT_MET", f"discount code {code} needs a larger order")
    if spec.get("type", "percentage") == "flat":
        if row is None or not row.get("max_amount_possible"):
            raise Refused("DISCOUNT_CURRENCY_NOT_SUPPORTED", f"discount code {code} has no amount in {currency}")
        return min(int(row["max_amount_possible"]), subtotal)
    off = (subtotal * int(spec.get("amount", 0)) + 5_000) // 10_000
    if row is not None and row.get("max_amount_possible"):
        off = min(off, int(row["max_amount_possible"]))
    return min(off, subtotal)
