"""An offer as stored in Redis, shown by the API and carried in `offer.*` events.

States: pending -> charging -> converted | failed; pending -> declined | expired. Validated
whenever it crosses the Redis boundary, so a field read anywhere else is a typed attribute.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from worker.offers import links

OfferType = Literal["one_click", "cross_sell", "upgrade", "downgrade"]
OfferState = Literal["pending", "charging", "converted", "failed", "declined", "expired"]
PLAN_CHANGES = ("upgrade", "downgrade")

TRANSITIONS: dict[str, set[str]] = {
    "pending": {"charging", "declined", "expired"},
    "charging": {"converted", "failed"},
    "failed": {"converted"},  # Dodo's payment.succeeded is the truth, even after we gave up waiting
}


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    offer_id: str
    rule_id: str
    variant: str
    variant_id: str | None = None  # name@hash of the variant's terms: the stats identity (rules/match.py)
    customer_id: str
    type: OfferType
    product_id: str
    quantity: int
    proration: str | None = None
    on_payment_failure: str = "prevent_change"
    effective_at: str | None = None  # plan changes: immediately (Dodo's default) or next_billing_date
    discount_code: str | None = None
    discount_unavailable: str | None = None  # offered at list price (on_discount_unavailable: full_price): why
    subscription_id: str | None = None
    state: OfferState = "pending"
    created_at: str
    expires_at: str | None = None
    source: str
    trigger: str
    cooldown_seconds: int | None = None
    checkout_url: str | None = None
    quote: dict[str, Any] | None = None
    payment_id: str | None = None
    error_code: str | None = None
    session_id: str | None = None
    payment_method_id: str | None = None
    return_url: str | None = None  # the rule's; else UPSELL_RETURN_URL when the checkout is made
    locale: str | None = None  # the rule's: the offer page's language whatever the browser says
    source_payment_id: str | None = None  # the payment whose webhook made this offer, if one did
    display: dict[str, Any] | None = None  # product name and price (offers/display.py); never card details
    causation_depth: int = 0  # 0: made by a webhook or app event; n: by an offer of depth n - 1
    rule_set: str | None = None  # the version of the rule set that made it (rules/history.py)

    @classmethod
    def loads(cls, raw: str | bytes) -> Offer:
        return cls.model_validate_json(raw)

    def dumps(self) -> str:
        return self.model_dump_json()

    def view(self) -> dict[str, Any]:
        """What the API answers: the offer and its signed link for the customer (offers/links.py)."""
        return self.model_dump(mode="json") | {"offer_url": links.url(self.offer_id, self.customer_id)}

    def event_view(self) -> dict[str, Any]:
        """What `offer.*` events carry: no payment method or session id (entitlement systems and
        logs have no use for them; the app reads them from the API if it must)."""
        shown = self.model_dump(mode="json", exclude={"payment_method_id", "session_id"})
        return shown | {"offer_url": links.url(self.offer_id, self.customer_id)}

    @property
    def is_plan_change(self) -> bool:
        return self.type in PLAN_CHANGES

    def expires_at_ts(self) -> float | None:
        if self.expires_at is None:
            return None
        return datetime.fromisoformat(self.expires_at.replace("Z", "+00:00")).timestamp()

    def expired(self, now: datetime | None = None) -> bool:
        """Past its `expires_at`, whether or not the expiry job has run yet."""
        due = self.expires_at_ts()
        return due is not None and (now or datetime.now(UTC)).timestamp() >= due

    def can_move_to(self, state: str) -> bool:
        return state in TRANSITIONS.get(self.state, set())
