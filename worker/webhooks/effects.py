"""What each kind of webhook does to access, named by the catalog's `effect` column.

Each function reads one parsed event and returns an Outcome: whose event it is, the access update
(if any) under the operator's policy, and the facts rules test. They change nothing themselves, so
the worker and `rules explain` share them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dodopayments.types import Dispute, Payment, Refund, Subscription

from worker import catalog
from worker.access import payments
from worker.access.config import AccessConfig
from worker.access.grants import Change, Update
from worker.rules.match import Facts


@dataclass(frozen=True)
class Outcome:
    customer_id: str
    facts: Facts
    update: Update | None = None
    subscription_id: str | None = None
    suppresses: bool = False  # a refund or an open dispute: pending offers expire
    payment: Payment | None = field(default=None, repr=False)
    paid: bool | None = None  # a payment event: did the money move (an offer's charge converts or fails)
    refund: Refund | None = field(default=None, repr=False)  # a refund: counted against its offer's rule
    subscription_active: bool | None = None  # a subscription event: is it active after it
    methods_changed: bool = False  # the customer changed a card: a cached one-click answer is stale
    moots_offers_of: str | None = None  # pending offers this trigger made are moot now (a recovery happened)
    disputed: str | None = None  # a dispute opened on this payment (an offer's guardrail)
    cancelled: bool = False  # the subscription was cancelled (an upgrade's guardrail)


Lookup = Callable[[str], payments.PaymentRecord]  # payment id -> its record (index, else Dodo)
Effect = Callable[[Lookup, AccessConfig, catalog.Webhook, str, Any], Outcome]


def metadata_of(data: Any) -> dict[str, str]:
    return {k: str(v) for k, v in (getattr(data, "metadata", None) or {}).items()}


def payment_facts(hook: catalog.Webhook, payment: Payment, fields: dict[str, Any] | None = None) -> Facts:
    products = tuple(item.product_id for item in payment.product_cart or [])
    customer = payment.customer.customer_id
    amount, currency = payment.total_amount, str(payment.currency)
    return Facts(hook.name, customer, products, currency, amount, metadata_of(payment), fields=fields or {})


def _subscription_outcome(
    hook: catalog.Webhook, sub: Subscription, update: Update | None, active: bool = False
) -> Outcome:
    facts = Facts(
        hook.name,
        sub.customer.customer_id,
        (sub.product_id,),
        str(sub.currency),
        sub.recurring_pre_tax_amount,
        metadata_of(sub),
    )
    return Outcome(sub.customer.customer_id, facts, update, sub.subscription_id, subscription_active=active)


def update_for(
    hook: catalog.Webhook,
    webhook_id: str,
    event: Any,
    customer_id: str,
    changes: list[Change],
    kind: str = "access.changed",
    **marks: Any,
) -> Update:
    return Update(webhook_id, customer_id, event.timestamp, kind, hook.reason, changes, **marks)


def purchase(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """A one-time payment grants each product of its cart (for the product's `duration`, if set);
    a subscription's payment grants nothing itself: its subscription events do."""
    payment: Payment = event.data
    record = payments.record_of(payment)
    facts = payment_facts(hook, payment)
    if payment.subscription_id or not record.grant_keys:
        return Outcome(record.customer_id, facts, None, payment.subscription_id, payment=payment, paid=True)
    stamp = event.timestamp.timestamp()
    changes = []
    for key, product in zip(record.grant_keys, record.products, strict=True):
        spec = config.products.get(product)
        ends = stamp + spec.duration if spec and spec.duration else None
        changes.append(Change(key, "grant", payment.payment_id, product, ends))
    update = update_for(hook, webhook_id, event, record.customer_id, changes, "access.granted")
    return Outcome(record.customer_id, facts, update, payment=payment, paid=True)


def nothing(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    payment: Payment = event.data
    customer, facts = payment.customer.customer_id, payment_facts(hook, payment)
    return Outcome(customer, facts, None, payment.subscription_id, payment=payment, paid=False)


def activate(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """A subscription starts: its grant is its product (`access.granted`)."""
    return _granting(hook, webhook_id, event, "access.granted")


def subscribe(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """Renewed, unpaused, a new plan: the subscription's grant is again its product, in one step."""
    return _granting(hook, webhook_id, event, "access.changed")


def _granting(hook: catalog.Webhook, webhook_id: str, event: Any, kind: str) -> Outcome:
    sub: Subscription = event.data
    change = Change(sub.subscription_id, "grant", sub.subscription_id, sub.product_id)
    update = update_for(hook, webhook_id, event, sub.customer.customer_id, [change], kind)
    return _subscription_outcome(hook, sub, update, active=True)


def subscription_updated(
    lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any
) -> Outcome:
    """Only an update that says `active` grants; other states arrive as their own events."""
    sub: Subscription = event.data
    if str(sub.status) != "active":
        return _subscription_outcome(hook, sub, None)
    return subscribe(lookup, config, hook, webhook_id, event)


def hold(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """On hold or past due: access stays for `grace` from the event, then goes unless re-activated;
    `grace: dodo` keeps it until Dodo's own deadline (`past_due_ends_at`) when the event has one."""
    sub: Subscription = event.data
    deadline = getattr(sub, "past_due_ends_at", None)
    if config.policy.grace_from_dodo and deadline is not None:
        ends = deadline.timestamp()
    else:
        ends = event.timestamp.timestamp() + config.policy.grace_seconds
    change = Change(sub.subscription_id, "end_at", sub.subscription_id, sub.product_id, ends)
    return _subscription_outcome(hook, sub, update_for(hook, webhook_id, event, sub.customer.customer_id, [change]))


def cancel(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """`period_end`: the grant ends at next_billing_date (at once if that is past); `immediately`: now."""
    sub: Subscription = event.data
    if config.policy.on_cancel == "immediately":
        change = Change(sub.subscription_id, "revoke")
    else:
        ends = sub.next_billing_date.timestamp()
        change = Change(sub.subscription_id, "end_at", sub.subscription_id, sub.product_id, ends)
    outcome = _subscription_outcome(hook, sub, update_for(hook, webhook_id, event, sub.customer.customer_id, [change]))
    return dataclasses.replace(outcome, cancelled=True)


def end(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """Expired, failed, paused: the grant goes now."""
    sub: Subscription = event.data
    change = Change(sub.subscription_id, "revoke")
    return _subscription_outcome(hook, sub, update_for(hook, webhook_id, event, sub.customer.customer_id, [change]))


def refund(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """A one-time payment's grants go per `on_refund`; a subscription's payment changes nothing by
    itself. Either way the customer gets no new offers for `suppress_offers_after_refund`."""
    data: Refund = event.data
    record = lookup(data.payment_id)
    revoke = not record.subscription_id and (
        config.policy.on_refund == "any" or (config.policy.on_refund == "full" and not data.is_partial)
    )
    changes = [Change(key, "revoke") for key in record.grant_keys] if revoke else []
    facts = Facts(
        hook.name,
        data.customer.customer_id,
        tuple(record.products),
        str(data.currency or ""),
        data.amount,
        metadata_of(data),
    )
    update = update_for(hook, webhook_id, event, data.customer.customer_id, changes, refunded=True)
    customer = data.customer.customer_id
    return Outcome(customer, facts, update, record.subscription_id, suppresses=True, refund=data)


def _dispute(
    lookup: Lookup, hook: catalog.Webhook, webhook_id: str, event: Any, now_open: bool, suspend: bool, revoke: bool
) -> Outcome:
    """A dispute's state lives on its own clock (per payment); only a lost one touches the grants."""
    data: Dispute = event.data
    record = lookup(data.payment_id)
    changes = [Change(key, "revoke") for key in record.grant_keys] if revoke else []
    amount = int(data.amount) if data.amount.isascii() and data.amount.isdigit() and len(data.amount) < 19 else None
    facts = Facts(hook.name, record.customer_id, tuple(record.products), data.currency, amount)
    suspends = tuple(record.grant_keys) if suspend else ()
    dispute = (data.payment_id, now_open, suspends)
    update = update_for(hook, webhook_id, event, record.customer_id, changes, dispute=dispute)
    disputed = data.payment_id if now_open else None
    return Outcome(record.customer_id, facts, update, record.subscription_id, suppresses=now_open, disputed=disputed)


def dispute_open(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    return _dispute(lookup, hook, webhook_id, event, True, config.policy.on_dispute == "suspend", False)


def dispute_restore(
    lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any
) -> Outcome:
    return _dispute(lookup, hook, webhook_id, event, False, False, False)


def dispute_revoke(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    return _dispute(lookup, hook, webhook_id, event, False, False, True)


ACCESS: dict[catalog.Webhook, Effect] = {
    catalog.PAYMENT_SUCCEEDED: purchase,
    catalog.PAYMENT_FAILED: nothing,
    catalog.SUBSCRIPTION_ACTIVE: activate,
    catalog.SUBSCRIPTION_PLAN_CHANGED: subscribe,
    catalog.SUBSCRIPTION_RENEWED: subscribe,
    catalog.SUBSCRIPTION_UNPAUSED: subscribe,
    catalog.SUBSCRIPTION_UPDATED: subscription_updated,
    catalog.SUBSCRIPTION_ON_HOLD: hold,
    catalog.SUBSCRIPTION_PAST_DUE: hold,
    catalog.SUBSCRIPTION_CANCELLED: cancel,
    catalog.SUBSCRIPTION_EXPIRED: end,
    catalog.SUBSCRIPTION_FAILED: end,
    catalog.SUBSCRIPTION_PAUSED: end,
    catalog.REFUND_SUCCEEDED: refund,
    catalog.DISPUTE_OPENED: dispute_open,
    catalog.DISPUTE_CHALLENGED: dispute_open,
    catalog.DISPUTE_WON: dispute_restore,
    catalog.DISPUTE_CANCELLED: dispute_restore,
    catalog.DISPUTE_LOST: dispute_revoke,
    catalog.DISPUTE_ACCEPTED: dispute_revoke,
    catalog.DISPUTE_EXPIRED: dispute_revoke,
}
