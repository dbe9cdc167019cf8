"""What happens to a purchase after checkout, as Dodo reports it: payments to look up, and the
subscription, refund and dispute webhooks, and every other type from its sample, that the control
API (`POST /_emulator/lifecycle`) sends."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator import shapes
from worker import catalog

DISPUTE_STATUS = {
    "opened": "dispute_opened",
    "challenged": "dispute_challenged",
    "won": "dispute_won",
    "lost": "dispute_lost",
    "accepted": "dispute_accepted",
    "cancelled": "dispute_cancelled",
    "expired": "dispute_expired",
}
SUBSCRIPTION_STATUS = {
    "active": "active",
    "renewed": "active",
    "unpaused": "active",
    "updated": "active",
    "on_hold": "on_hold",
    "past_due": "on_hold",
    "paused": "paused",
    "cancelled": "cancelled",
    "expired": "expired",
    "failed": "failed",
    "update_payment_method": "active",
}


def payment(payment_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A Payment body from a seed spec {customer_id, product_cart, total_amount, currency, subscription_id}."""
    event = shapes.payment_event(
        "succeeded",
        payment_id=payment_id,
        customer_id=spec["customer_id"],
        cart=spec.get("product_cart", []),
        amount=spec.get("total_amount", 0),
        currency=spec.get("currency", "USD"),
        metadata={},
        payment_method_id=None,
        session_id=None,
        subscription_id=spec.get("subscription_id"),
    )
    data = event["data"]
    data.pop("payload_type", None)
    return data


def event(
    kind: str, body: dict[str, Any], subscription: dict[str, Any] | None, paid: dict[str, Any] | None
) -> dict[str, Any]:
    """The webhook for `kind` (e.g. subscription.cancelled, refund.succeeded, dispute.won); any
    other type is its sample with `data` overriding the sample's fields (e.g. dunning.started)."""
    group, _, what = kind.partition(".")
    out = shapes.template(kind if group != "subscription" else catalog.SUBSCRIPTION_ACTIVE.name)
    out["type"], out["timestamp"] = kind, body.get("timestamp") or shapes.now()
    if group == "subscription":
        if subscription is None:
            raise KeyError("subscription_id: no such subscription")
        ends = body.get("next_billing_date") or (datetime.now(UTC) + timedelta(days=30)).isoformat()
        out["data"] = {
            "payload_type": "Subscription",
            **subscription,
            "status": SUBSCRIPTION_STATUS[what],
            "next_billing_date": ends,
        }
    elif group == "refund":
        if paid is None:
            raise KeyError("payment_id: no such payment")
        out["data"].update(
            payment_id=paid["payment_id"],
            customer=paid["customer"],
            is_partial=bool(body.get("is_partial")),
            amount=body.get("amount", paid["total_amount"]),
            currency=paid["currency"],
            refund_id="ref_" + secrets.token_hex(8),
            created_at=out["timestamp"],
        )
    elif group == "dispute":
        payment_id = body.get("payment_id")
        if not payment_id:
            raise KeyError("payment_id: required")
        out["data"].update(
            payment_id=payment_id,
            dispute_status=DISPUTE_STATUS[what],
            created_at=out["timestamp"],
            dispute_id=body.get("dispute_id", "dsp_" + payment_id[-8:]),
        )
    else:  # dunning, abandoned checkouts, credits, entitlement grants, license keys, payment states
        out["data"].update(body.get("data") or {})
    return out
