"""Every type the worker knows, named once: the receiver, the actors, rule validation and the rules
JSON Schema all derive from these tables (tests/test_catalog.py fails if any of them disagree).

This is the only place a webhook type's name is written in code. Adding a webhook type is one row
here (its SDK model and the `reason` its access events carry) and its effect, a function, in
webhooks/effects.py's EFFECTS (tests/test_catalog.py fails while a row has none)."""

from __future__ import annotations

from dataclasses import dataclass

from dodopayments import types as t
from pydantic import BaseModel


@dataclass(frozen=True)
class Webhook:
    """A handled Dodo webhook type: the SDK model that parses it strictly, and what it does."""

    name: str
    model: type[BaseModel]
    reason: str = ""  # `change.reason` on the access events it causes

    @property
    def actor(self) -> str:
        return self.name.replace(".", "_")


PAYMENT_SUCCEEDED = Webhook("payment.succeeded", t.PaymentSucceededWebhookEvent, "purchased")
PAYMENT_FAILED = Webhook("payment.failed", t.PaymentFailedWebhookEvent)
SUBSCRIPTION_ACTIVE = Webhook("subscription.active", t.SubscriptionActiveWebhookEvent, "activated")
SUBSCRIPTION_PLAN_CHANGED = Webhook("subscription.plan_changed", t.SubscriptionPlanChangedWebhookEvent, "plan_changed")
SUBSCRIPTION_RENEWED = Webhook("subscription.renewed", t.SubscriptionRenewedWebhookEvent, "renewed")
SUBSCRIPTION_UNPAUSED = Webhook("subscription.unpaused", t.SubscriptionUnpausedWebhookEvent, "unpaused")
SUBSCRIPTION_UPDATED = Webhook("subscription.updated", t.SubscriptionUpdatedWebhookEvent, "updated")
SUBSCRIPTION_ON_HOLD = Webhook("subscription.on_hold", t.SubscriptionOnHoldWebhookEvent, "grace_ended")
SUBSCRIPTION_PAST_DUE = Webhook("subscription.past_due", t.SubscriptionPastDueWebhookEvent, "grace_ended")
SUBSCRIPTION_CANCELLED = Webhook("subscription.cancelled", t.SubscriptionCancelledWebhookEvent, "cancelled")
SUBSCRIPTION_EXPIRED = Webhook("subscription.expired", t.SubscriptionExpiredWebhookEvent, "expired")
SUBSCRIPTION_FAILED = Webhook("subscription.failed", t.SubscriptionFailedWebhookEvent, "failed")
SUBSCRIPTION_PAUSED = Webhook("subscription.paused", t.SubscriptionPausedWebhookEvent, "paused")
REFUND_SUCCEEDED = Webhook("refund.succeeded", t.RefundSucceededWebhookEvent, "refunded")
DISPUTE_OPENED = Webhook("dispute.opened", t.DisputeOpenedWebhookEvent, "dispute_opened")
DISPUTE_CHALLENGED = Webhook("dispute.challenged", t.DisputeChallengedWebhookEvent, "dispute_opened")
DISPUTE_WON = Webhook("dispute.won", t.DisputeWonWebhookEvent, "dispute_won")
DISPUTE_CANCELLED = Webhook("dispute.cancelled", t.DisputeCancelledWebhookEvent, "dispute_cancelled")
DISPUTE_LOST = Webhook("dispute.lost", t.DisputeLostWebhookEvent, "dispute_lost")
DISPUTE_ACCEPTED = Webhook("dispute.accepted", t.DisputeAcceptedWebhookEvent, "dispute_lost")
# The response window closed without the merchant winning: the funds stay with the customer.
DISPUTE_EXPIRED = Webhook("dispute.expired", t.DisputeExpiredWebhookEvent, "dispute_lost")
WEBHOOKS: tuple[Webhook, ...] = (
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_PLAN_CHANGED,
    SUBSCRIPTION_RENEWED,
    SUBSCRIPTION_UNPAUSED,
    SUBSCRIPTION_UPDATED,
    SUBSCRIPTION_ON_HOLD,
    SUBSCRIPTION_PAST_DUE,
    SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_EXPIRED,
    SUBSCRIPTION_FAILED,
    SUBSCRIPTION_PAUSED,
    REFUND_SUCCEEDED,
    DISPUTE_OPENED,
    DISPUTE_CHALLENGED,
    DISPUTE_WON,
    DISPUTE_CANCELLED,
    DISPUTE_LOST,
    DISPUTE_ACCEPTED,
    DISPUTE_EXPIRED,
)
BY_TYPE: dict[str, Webhook] = {hook.name: hook for hook in WEBHOOKS}

# Offer events rules may trigger on, and the state the triggering offer must still be in when they act.
OFFER_TRIGGERS: dict[str, str] = {"offer.created": "pending", "offer.declined": "declined", "offer.failed": "failed"}
RULE_TRIGGERS: tuple[str, ...] = (*BY_TYPE, *OFFER_TRIGGERS)

ACCESS_EVENTS = ("access.granted", "access.changed", "access.revoked")
OFFER_EVENTS = (
    "offer.created",
    "offer.accepted",
    "offer.declined",
    "offer.converted",
    "offer.failed",
    "offer.expired",
    "offer.reminder",
)
EMITTED: tuple[str, ...] = ACCESS_EVENTS + OFFER_EVENTS
NOTIFY_EVENTS = ("offer.reminder",)  # what a rule's `notify` may emit about its triggering offer
