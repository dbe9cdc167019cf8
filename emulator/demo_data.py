"""The emulator's default world: the fixtures' customer with a saved card, priced products and the
discount codes the shipped rules name."""

from __future__ import annotations

from typing import Any

CUSTOMER = "cus_8VbC6JDZzPEqfBPUdpj0K"

DEMO: dict[str, Any] = {
    "customers": {
        CUSTOMER: {
            "payment_methods": [
                {
                    "payment_method_id": "pm_0NvCq7Yp4b3XyZ1",
                    "payment_method": "card",
                    "payment_method_type": "credit",
                    "recurring_enabled": True,
                    "card": {
                        "card_network": "visa",
                        "last4_digits": "4242",
                        "expiry_month": "12",
                        "expiry_year": "2099",
                        "card_type": "credit",
                    },
                }
            ]
        },
    },
    "products": {
        "pdt_RUST4raxbl0Rfe4VQi1z": {"name": "Basic plan", "price": 1000, "currency": "USD", "is_recurring": True},
        "pdt_PRO0planUpgrade9xQ": {"name": "Pro plan", "price": 3000, "currency": "USD", "is_recurring": True},
        "pdt_e9mUw084cWnu0tz": {"name": "Rust course", "price": 400, "currency": "USD"},
        "pdt_ADDON0priority7Kq": {"name": "Priority support", "price": 900, "currency": "USD"},
    },
    "discounts": {  # the codes the shipped rules name: percentages in basis points, a flat one per currency
        "PRO20": {"type": "percentage", "amount": 2000},
        "ADDON10": {"type": "percentage", "amount": 1000},
        "ADDON15": {"type": "percentage", "amount": 1500},
        "ADDON50": {"type": "percentage", "amount": 5000, "restricted_to": ["pdt_ADDON0priority7Kq"]},
        "COMEBACK": {
            "type": "flat",
            "amount": 0,
            "currency_options": [{"currency": "USD", "max_amount_possible": 300}],
        },
        "COMEBACK10": {"type": "percentage", "amount": 1000},
    },
    "subscriptions": {
        "sub_7EeHq2ewQuadropD2ra": {"customer_id": CUSTOMER, "product_id": "pdt_RUST4raxbl0Rfe4VQi1z", "quantity": 1},
    },
}
