"""Response and webhook bodies in the shapes the SDK's models parse, built from real payloads."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from worker import catalog

TEMPLATES = Path(__file__).parent / "templates"


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@cache
def _template(name: str) -> dict[str, Any]:
    return json.loads((TEMPLATES / f"{name}.json").read_text())


def template(name: str) -> dict[str, Any]:
    return copy.deepcopy(_template(name))


def customer(customer_id: str) -> dict[str, Any]:
    return {
        **template(catalog.PAYMENT_SUCCEEDED.name)["data"]["customer"],
        "customer_id": customer_id,
        "email": f"{customer_id}@example.com",
    }


def product(product_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("is_recurring"):
        price = {
            "type": "recurring_price",
            "currency": spec["currency"],
            "price": spec["price"],
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "subscription_period_count": 10,
            "subscription_period_interval": "Year",
        }
    else:
        price = {"type": "one_time_price", "currency": spec["currency"], "price": spec["price"]}
    return {
        "product_id": product_id,
        "name": spec.get("name", product_id),
        "brand_id": "bus_emulator",
        "business_id": "bus_emulator",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "credit_entitlements": [],
        "entitlements": [],
        "is_recurring": bool(spec.get("is_recurring")),
        "license_key_enabled": False,
        "metadata": {},
        "price": price,
        "tax_category": "saas",
    }


def subscription(subscription_id: str, sub: dict[str, Any], price: int, currency: str) -> dict[str, Any]:
    data = template(catalog.SUBSCRIPTION_ACTIVE.name)["data"]
    data.pop("payload_type")
    data.update(
        subscription_id=subscription_id,
        product_id=sub["product_id"],
        quantity=sub.get("quantity", 1),
        customer=customer(sub["customer_id"]),
        recurring_pre_tax_amount=price,
        currency=currency,
        status=sub.get("status", "active"),
        addons=sub.get("addons", []),
    )
    return data


def payment_event(
    kind: str,
    *,
    payment_id: str,
    customer_id: str,
    cart: list[dict[str, Any]],
    amount: int,
    currency: str,
    metadata: dict[str, str],
    payment_method_id: str | None,
    session_id: str | None,
    subscription_id: str | None = None,
    error_code: str | None = None,
    discounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    event = template(f"payment.{kind}")
    event["timestamp"] = now()
    event["data"].update(
        payment_id=payment_id,
        customer=customer(customer_id),
        product_cart=cart,
        total_amount=amount,
        settlement_amount=amount,
        currency=currency,
        settlement_currency=currency,
        metadata=metadata,
        payment_method_id=payment_method_id,
        checkout_session_id=session_id,
        subscription_id=subscription_id,
        created_at=event["timestamp"],
        updated_at=event["timestamp"],
        discounts=discounts or [],
        discount_id=discounts[0]["discount_id"] if discounts else None,
    )
    if kind == "failed":
        event["data"].update(error_code=error_code or "INSUFFICIENT_FUNDS", error_message="The card was declined.")
    return event


def plan_changed_event(subscription_data: dict[str, Any]) -> dict[str, Any]:
    event = template(catalog.SUBSCRIPTION_PLAN_CHANGED.name)
    event["timestamp"] = now()
    event["data"] = {"payload_type": "Subscription", **subscription_data}
    return event


def preview(
    subscription_data: dict[str, Any], product_id: str, quantity: int, unit_price: int, currency: str, charge: int
) -> dict[str, Any]:
    line = {
        "id": subscription_data["subscription_id"],
        "type": "subscription",
        "product_id": product_id,
        "currency": currency,
        "quantity": quantity,
        "unit_price": unit_price,
        "proration_factor": 1.0,
        "tax_inclusive": False,
        "tax": 0,
    }
    summary = {
        "currency": currency,
        "customer_credits": 0,
        "customer_credits_currency": currency,
        "settlement_amount": charge,
        "settlement_currency": currency,
        "total_amount": charge,
        "tax": 0,
    }
    return {
        "immediate_charge": {"effective_at": now(), "line_items": [line], "summary": summary},
        "new_plan": {**subscription_data, "product_id": product_id, "quantity": quantity},
    }
