"""Every type the worker knows, named once: the receiver, the actors, rule validation and the rules
JSON Schema all derive from these tables (tests/test_catalog.py fails if any of them disagree).

This is the only place a webhook type's name is written in code. Adding a webhook type is one row
here (its SDK model and the `reason` its access events carry) and its effect, a function, in
webhooks/table.py's EFFECTS (tests/test_catalog.py fails while a row has none); the SDK's
other types are in IGNORED with the reason."""

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
    fields: tuple[str, ...] = ()  # its data fields a rule's `when.fields` may test (never secrets)

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
# Rule triggers (and, where noted in webhooks/effects.py, their own small effects).
PAYMENT_PROCESSING = Webhook("payment.processing", t.PaymentProcessingWebhookEvent, fields=("status",))
PAYMENT_CANCELLED = Webhook("payment.cancelled", t.PaymentCancelledWebhookEvent, fields=("status",))
REFUND_FAILED = Webhook("refund.failed", t.RefundFailedWebhookEvent, fields=("status", "is_partial"))
SUBSCRIPTION_UPDATE_PAYMENT_METHOD = Webhook(
    "subscription.update_payment_method", t.SubscriptionUpdatePaymentMethodWebhookEvent, fields=("status",)
)
LICENSE_KEY_CREATED = Webhook("license_key.created", t.LicenseKeyCreatedWebhookEvent, fields=("status", "source"))
_DUNNING = ("trigger_state", "status")
DUNNING_STARTED = Webhook("dunning.started", t.DunningStartedWebhookEvent, fields=_DUNNING)
DUNNING_RECOVERED = Webhook("dunning.recovered", t.DunningRecoveredWebhookEvent, fields=_DUNNING)
_CHECKOUT = ("abandonment_reason", "status")
ABANDONED_CHECKOUT_DETECTED = Webhook(
    "abandoned_checkout.detected", t.AbandonedCheckoutDetectedWebhookEvent, fields=_CHECKOUT
)
ABANDONED_CHECKOUT_RECOVERED = Webhook(
    "abandoned_checkout.recovered", t.AbandonedCheckoutRecoveredWebhookEvent, fields=_CHECKOUT
)
CREDIT_BALANCE_LOW = Webhook(
    "credit.balance_low",
    t.CreditBalanceLowWebhookEvent,
    "credits",
    fields=("threshold_percent", "credit_entitlement_name", "credit_entitlement_id", "available_balance"),
)
_LEDGER = ("credit_entitlement_id", "transaction_type", "amount", "balance_after", "is_credit")
CREDIT_ADDED = Webhook("credit.added", t.CreditAddedWebhookEvent, "credits", _LEDGER)
CREDIT_DEDUCTED = Webhook("credit.deducted", t.CreditDeductedWebhookEvent, "credits", _LEDGER)
CREDIT_EXPIRED = Webhook("credit.expired", t.CreditExpiredWebhookEvent, "credits", _LEDGER)
CREDIT_ROLLED_OVER = Webhook("credit.rolled_over", t.CreditRolledOverWebhookEvent, "credits", _LEDGER)
CREDIT_ROLLOVER_FORFEITED = Webhook(
    "credit.rollover_forfeited", t.CreditRolloverForfeitedWebhookEvent, "credits", _LEDGER
)
CREDIT_OVERAGE_CHARGED = Webhook("credit.overage_charged", t.CreditOverageChargedWebhookEvent, "credits", _LEDGER)
CREDIT_OVERAGE_RESET = Webhook("credit.overage_reset", t.CreditOverageResetWebhookEvent, "credits", _LEDGER)
CREDIT_MANUAL_ADJUSTMENT = Webhook("credit.manual_adjustment", t.CreditManualAdjustmentWebhookEvent, "credits", _LEDGER)
_GRANT = ("entitlement_id", "status")
ENTITLEMENT_GRANT_CREATED = Webhook("entitlement_grant.created", t.EntitlementGrantCreatedWebhookEvent, fields=_GRANT)
ENTITLEMENT_GRANT_DELIVERED = Webhook(
    "entitlement_grant.delivered", t.EntitlementGrantDeliveredWebhookEvent, "entitlement_delivered", _GRANT
)
ENTITLEMENT_GRANT_FAILED = Webhook("entitlement_grant.failed", t.EntitlementGrantFailedWebhookEvent, fields=_GRANT)
ENTITLEMENT_GRANT_REVOKED = Webhook(
    "entitlement_grant.revoked", t.EntitlementGrantRevokedWebhookEvent, "entitlement_revoked", _GRANT
)

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
    PAYMENT_PROCESSING,
    PAYMENT_CANCELLED,
    REFUND_FAILED,
    SUBSCRIPTION_UPDATE_PAYMENT_METHOD,
    LICENSE_KEY_CREATED,
    DUNNING_STARTED,
    DUNNING_RECOVERED,
    ABANDONED_CHECKOUT_DETECTED,
    ABANDONED_CHECKOUT_RECOVERED,
    CREDIT_BALANCE_LOW,
    CREDIT_ADDED,
    CREDIT_DEDUCTED,
    CREDIT_EXPIRED,
    CREDIT_ROLLED_OVER,
    CREDIT_ROLLOVER_FORFEITED,
    CREDIT_OVERAGE_CHARGED,
    CREDIT_OVERAGE_RESET,
    CREDIT_MANUAL_ADJUSTMENT,
    ENTITLEMENT_GRANT_CREATED,
    ENTITLEMENT_GRANT_DELIVERED,
    ENTITLEMENT_GRANT_FAILED,
    ENTITLEMENT_GRANT_REVOKED,
)
BY_TYPE: dict[str, Webhook] = {hook.name: hook for hook in WEBHOOKS}

# The pinned SDK's other types, answered `ignored` (200, so Dodo does not retry), each with why.
_PAYOUTS = "the merchant's own payouts: no customer's access or offers depend on them"
IGNORED: dict[str, str] = {
    "payout.created": _PAYOUTS,
    "payout.on_hold": _PAYOUTS,
    "payout.in_progress": _PAYOUTS,
    "payout.failed": _PAYOUTS,
    "payout.success": _PAYOUTS,
}

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
# About our own outbound webhooks, for operators (worker/delivery/health.py): `data.endpoint` names the
# endpoint, which is the one endpoint never sent them.
OPERATOR_EVENTS = ("delivery.failing", "delivery.recovered", "endpoint.disabled", "endpoint.enabled")
EMITTED: tuple[str, ...] = ACCESS_EVENTS + OFFER_EVENTS + OPERATOR_EVENTS
NOTIFY_EVENTS = ("offer.reminder",)  # what a rule's `notify` may emit about its triggering offer
