"""Dodo's webhook types that start rules rather than change access by themselves: dunning, abandoned
checkouts, credits, card updates, license keys, a payment still processing or cancelled, a failed
refund; and Dodo's own entitlement grants, which access.yaml may map to features."""

from __future__ import annotations

import time
from typing import Any

from worker import catalog
from worker.access import numbers
from worker.access.config import AccessConfig
from worker.access.grants import Change
from worker.queue.errors import PermanentError
from worker.rules.match import Facts
from worker.webhooks.effects import Effect, Lookup, Outcome, metadata_of, payment_facts, update_for

NUMERIC = frozenset({"amount", "balance_after", "available_balance", "threshold_percent"})


def rule_fields(hook: catalog.Webhook, data: Any) -> dict[str, Any]:
    """The data fields the catalog lets rules test, as plain values (decimal strings as numbers)."""
    found: dict[str, Any] = {}
    for name in hook.fields:
        value = getattr(data, name, None)
        if name in NUMERIC and isinstance(value, str):
            value = numbers.decimal(value)
        found[name] = value if value is None or isinstance(value, bool | int | float) else str(value)
    return found


def _facts(hook: catalog.Webhook, data: Any, customer_id: str, products: tuple[str, ...] = ()) -> Facts:
    return Facts(hook.name, customer_id, products, None, None, metadata_of(data), fields=rule_fields(hook, data))


def signal(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """Dunning, abandoned checkouts, credits, entitlement grants Dodo made or could not deliver:
    rules on the type may act; access does not change."""
    data = event.data
    subscription = getattr(data, "subscription_id", None)
    products = tuple(p for p in (getattr(data, "entitlement_id", None),) if p)
    moot = catalog.ABANDONED_CHECKOUT_DETECTED.name if hook is catalog.ABANDONED_CHECKOUT_RECOVERED else None
    facts = _facts(hook, data, data.customer_id, products)
    return Outcome(data.customer_id, facts, None, subscription, moots_offers_of=moot)


def credit(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """A ledger entry sets its credit entitlement's balance (when it is the newest entry); a low
    balance warning names the entitlement. Either may start rules."""
    data = event.data
    if hook is catalog.CREDIT_BALANCE_LOW:
        entry = numbers.CreditEntry(data.credit_entitlement_id, None, data.credit_entitlement_name)
    else:
        balance = numbers.decimal(data.balance_after)
        if balance is None:
            raise PermanentError(
                f"{hook.name}: data.balance_after is not a decimal of at most 12 digits and 3 decimals"
            )
        at = data.created_at.timestamp()
        if at > time.time() + numbers.MAX_FUTURE_SECONDS:
            raise PermanentError(f"{hook.name}: data.created_at is more than a day ahead of now")
        entry = numbers.CreditEntry(data.credit_entitlement_id, balance, None, at, data.id)
    update = update_for(hook, webhook_id, event, data.customer_id, [], credit=entry)
    facts = _facts(hook, data, data.customer_id)
    return Outcome(data.customer_id, facts, update, getattr(data, "subscription_id", None))


def payment_state(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """Still processing: an offer's charge stays charging. Cancelled: the money did not move, so the
    offer's charge fails (and its fallback is offered) as on payment.failed."""
    payment = event.data
    facts = payment_facts(hook, payment, fields=rule_fields(hook, payment))
    paid = None if hook is catalog.PAYMENT_PROCESSING else False
    customer = payment.customer.customer_id
    return Outcome(customer, facts, None, payment.subscription_id, payment=payment, paid=paid)


def refund_failed(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    data = event.data
    customer = data.customer.customer_id
    currency, fields = str(data.currency or ""), rule_fields(hook, data)
    facts = Facts(hook.name, customer, (), currency, data.amount, metadata_of(data), fields=fields)
    return Outcome(customer, facts, None)


def card_updated(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """The customer changed the card on a subscription: one-click may be possible again, so the
    cached answer for this customer is dropped (handle.py marks it)."""
    sub = event.data
    customer = sub.customer.customer_id
    facts = _facts(hook, sub, customer, (sub.product_id,))
    return Outcome(customer, facts, None, sub.subscription_id, methods_changed=True)


def license_key(lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any) -> Outcome:
    """Never the key itself: only its product, status and source reach rules, offers and logs."""
    data = event.data
    return Outcome(
        data.customer_id, _facts(hook, data, data.customer_id, (data.product_id,)), None, data.subscription_id
    )


def entitlement_grant(
    lookup: Lookup, config: AccessConfig, hook: catalog.Webhook, webhook_id: str, event: Any
) -> Outcome:
    """Dodo delivered or revoked one of its own entitlements: access.yaml's `entitlements` maps an
    entitlement id to a tier and features, granted under the grant's id until it is revoked."""
    grant = event.data
    if grant.entitlement_id not in config.entitlements:
        return signal(lookup, config, hook, webhook_id, event)
    if hook is catalog.ENTITLEMENT_GRANT_DELIVERED:
        change = Change(grant.id, "grant", grant.id, grant.entitlement_id)
    else:
        change = Change(grant.id, "revoke")
    kind = "access.granted" if hook is catalog.ENTITLEMENT_GRANT_DELIVERED else "access.changed"
    update = update_for(hook, webhook_id, event, grant.customer_id, [change], kind)
    facts = _facts(hook, grant, grant.customer_id, (grant.entitlement_id,))
    return Outcome(grant.customer_id, facts, update, grant.subscription_id)


TRIGGERS: dict[catalog.Webhook, Effect] = {
    catalog.PAYMENT_PROCESSING: payment_state,
    catalog.PAYMENT_CANCELLED: payment_state,
    catalog.REFUND_FAILED: refund_failed,
    catalog.SUBSCRIPTION_UPDATE_PAYMENT_METHOD: card_updated,
    catalog.LICENSE_KEY_CREATED: license_key,
    catalog.DUNNING_STARTED: signal,
    catalog.DUNNING_RECOVERED: signal,
    catalog.ABANDONED_CHECKOUT_DETECTED: signal,
    catalog.ABANDONED_CHECKOUT_RECOVERED: signal,
    catalog.CREDIT_BALANCE_LOW: credit,
    catalog.CREDIT_ADDED: credit,
    catalog.CREDIT_DEDUCTED: credit,
    catalog.CREDIT_EXPIRED: credit,
    catalog.CREDIT_ROLLED_OVER: credit,
    catalog.CREDIT_ROLLOVER_FORFEITED: credit,
    catalog.CREDIT_OVERAGE_CHARGED: credit,
    catalog.CREDIT_OVERAGE_RESET: credit,
    catalog.CREDIT_MANUAL_ADJUSTMENT: credit,
    catalog.ENTITLEMENT_GRANT_CREATED: signal,
    catalog.ENTITLEMENT_GRANT_DELIVERED: entitlement_grant,
    catalog.ENTITLEMENT_GRANT_FAILED: signal,
    catalog.ENTITLEMENT_GRANT_REVOKED: entitlement_grant,
}
