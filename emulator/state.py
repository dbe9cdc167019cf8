"""What the emulator remembers: its world (customers, products, subscriptions, payments), the
requests it saw, the faults it was told to inject and the webhooks it delivered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Fault:
    method: str
    path: str  # prefix
    status: int = 500
    delay: float = 0.0
    times: int = 1
    after: bool = False  # do the work first, then stall/fail the answer (Dodo charged, client never hears)


@dataclass
class State:
    webhook_url: str | None
    secret: str | None
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0  # API calls being answered now, and the most at once: how callers bound themselves
    max_in_flight: int = 0

    def remember_payment(self, event: dict[str, Any]) -> None:
        if event["data"].get("payload_type") == "Payment":
            self.payments[event["data"]["payment_id"]] = {k: v for k, v in event["data"].items() if k != "payload_type"}

    def payments_of(self, customer_id: str | None, since: str | None) -> list[dict[str, Any]]:
        """`GET /payments` items (PaymentListResponse): a customer's, created at or after `since`."""
        return [
            {**p, "has_license_key": False, "status": p.get("status") or "succeeded"}
            for p in self.payments.values()
            if (customer_id is None or p["customer"]["customer_id"] == customer_id)
            and (since is None or datetime.fromisoformat(p["created_at"]) >= datetime.fromisoformat(since))
        ]

    def returning(self, customer_id: str) -> bool:
        """Not a first-time buyer: a saved card, a subscription or a payment here says they paid before."""
        customer = self.customers.get(customer_id) or {}
        return bool(
            customer.get("payment_methods")
            or any(s["customer_id"] == customer_id for s in self.subscriptions.values())
            or self.payments_of(customer_id, None)
        )

    def fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and path.startswith(fault.path) and fault.times > 0:
                fault.times -= 1
                return fault
        return None
