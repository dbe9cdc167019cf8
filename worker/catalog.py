"""Every type the worker knows, named once: the receiver, the actors, rule validation and the rules
JSON Schema all derive from these tables (tests/test_catalog.py fails if any of them disagree).

Adding a webhook type is one row: its SDK model, what it does to access (`effect`, a function of
webhooks/effects.py) and the `reason` its access events carry."""

from __future__ import annotations

from dataclasses import dataclass

from dodopayments import types as t
from pydantic import BaseModel


@dataclass(frozen=True)
class Webhook:
    """A handled Dodo webhook type: the SDK model that parses it strictly, and what it does."""

    name: str
    model: type[BaseModel]
    effect: str  # the function in webhooks/effects.py that turns it into an access update
    reason: str = ""  # `change.reason` on the access events it causes

    @property
    def actor(self) -> str:
        return self.name.replace(".", "_")


WEBHOOKS: tuple[Webhook, ...] = (
    Webhook("payment.succeeded", t.PaymentSucceededWebhookEvent, "purchase", "purchased"),
    Webhook("payment.failed", t.PaymentFailedWebhookEvent, "nothing"),
    Webhook("subscription.active", t.SubscriptionActiveWebhookEvent, "subscribe", "activated"),
    Webhook("subscription.plan_changed", t.SubscriptionPlanChangedWebhookEvent, "subscribe", "plan_changed"),
    Webhook("subscription.renewed", t.SubscriptionRenewedWebhookEvent, "subscribe", "renewed"),
    Webhook("subscription.unpaused", t.SubscriptionUnpausedWebhookEvent, "subscribe", "unpaused"),
    Webhook("subscription.updated", t.SubscriptionUpdatedWebhookEvent, "subscription_updated", "updated"),
    Webhook("subscription.on_hold", t.SubscriptionOnHoldWebhookEvent, "hold", "grace_ended"),
    Webhook("subscription.past_due", t.SubscriptionPastDueWebhookEvent, "hold", "grace_ended"),
    Webhook("subscription.cancelled", t.SubscriptionCancelledWebhookEvent, "cancel", "cancelled"),
    Webhook("subscription.expired", t.SubscriptionExpiredWebhookEvent, "end", "expired"),
    Webhook("subscription.failed", t.SubscriptionFailedWebhookEvent, "end", "failed"),
    Webhook("subscription.paused", t.SubscriptionPausedWebhookEvent, "end", "paused"),
    Webhook("refund.succeeded", t.RefundSucceededWebhookEvent, "refund", "refunded"),
    Webhook("dispute.opened", t.DisputeOpenedWebhookEvent, "dispute_open", "dispute_opened"),
    Webhook("dispute.challenged", t.DisputeChallengedWebhookEvent, "dispute_open", "dispute_opened"),
    Webhook("dispute.won", t.DisputeWonWebhookEvent, "dispute_restore", "dispute_won"),
    Webhook("dispute.cancelled", t.DisputeCancelledWebhookEvent, "dispute_restore", "dispute_cancelled"),
    Webhook("dispute.lost", t.DisputeLostWebhookEvent, "dispute_revoke", "dispute_lost"),
    Webhook("dispute.accepted", t.DisputeAcceptedWebhookEvent, "dispute_revoke", "dispute_lost"),
    # The response window closed without the merchant winning: the funds stay with the customer.
    Webhook("dispute.expired", t.DisputeExpiredWebhookEvent, "dispute_revoke", "dispute_lost"),
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
