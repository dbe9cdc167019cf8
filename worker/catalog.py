"""Every type the worker knows, named once: the receiver, the actors, rule validation and the rules
JSON Schema all derive from these tables (tests/test_catalog.py fails if any of them disagree)."""

from __future__ import annotations

from dataclasses import dataclass

from dodopayments.types import (
    PaymentFailedWebhookEvent,
    PaymentSucceededWebhookEvent,
    SubscriptionActiveWebhookEvent,
    SubscriptionPlanChangedWebhookEvent,
)
from pydantic import BaseModel


@dataclass(frozen=True)
class Webhook:
    """A handled Dodo webhook type: the SDK model that parses it strictly, and the actor that runs it."""

    name: str
    model: type[BaseModel]

    @property
    def actor(self) -> str:
        return self.name.replace(".", "_")


WEBHOOKS: tuple[Webhook, ...] = (
    Webhook("payment.succeeded", PaymentSucceededWebhookEvent),
    Webhook("payment.failed", PaymentFailedWebhookEvent),
    Webhook("subscription.active", SubscriptionActiveWebhookEvent),
    Webhook("subscription.plan_changed", SubscriptionPlanChangedWebhookEvent),
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
