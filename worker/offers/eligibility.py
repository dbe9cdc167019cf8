"""Can this customer take this product with one click now? One answer for the app's
`GET .../eligibility` and for the charge itself, so the app never offers what the charge refuses."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dodopayments import APIStatusError, DodoPayments

from worker.access.state import AccessState


@dataclass(frozen=True)
class Answer:
    eligible: bool
    reason: str  # "ok", or why not: the contract's reasons
    method: Any = None  # the saved method a charge would use: its brand and last4 are for the app only

    def view(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "reason": self.reason}


def saved_method(api: DodoPayments, customer_id: str) -> tuple[Any, str]:
    """The most recently used saved method that is recurring-enabled and unexpired, or why none is."""
    try:
        methods = api.customers.retrieve_payment_methods(customer_id).items
    except APIStatusError as exc:
        if exc.status_code == 404:  # a customer Dodo does not know has no saved method
            return None, "no_payment_method"
        raise
    if not methods:
        return None, "no_payment_method"
    reasons = []
    for method in sorted(methods, key=lambda m: m.last_used_at or datetime.min.replace(tzinfo=UTC), reverse=True):
        if not method.recurring_enabled:
            reasons.append("payment_method_not_recurring")
        elif _expired(method.card):
            reasons.append("payment_method_expired")
        else:
            return method, "ok"
    return None, reasons[0]


def _expired(card: Any) -> bool:
    if card is None or not card.expiry_year or not card.expiry_month:
        return False
    now = datetime.now(UTC)
    return (int(card.expiry_year), int(card.expiry_month)) < (now.year, now.month)


def access_blocker(state: AccessState, product_id: str, refund_window: int, now: float | None = None) -> str | None:
    """What the customer's access (as it counts now) says against an offer of `product_id`: the
    check made when an offer is made, by the eligibility API, and again right before money moves."""
    if state.suppressed(refund_window, time.time() if now is None else now):
        return "suppressed"
    if any(g.product_id == product_id and not g.suspended for g in state.grants.values()):
        return "already_has_access"
    return None


def check(api: DodoPayments, customer_id: str, state: AccessState, product_id: str, refund_window: int) -> Answer:
    """Suppressed (open dispute, recent refund), already holding the product, then the saved method."""
    blocked = access_blocker(state, product_id, refund_window)
    if blocked:
        return Answer(False, blocked)
    method, reason = saved_method(api, customer_id)
    return Answer(method is not None, reason, method)
