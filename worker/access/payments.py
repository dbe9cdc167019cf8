"""Which customer and grants a payment stands for, so a refund or a dispute (which names only a
payment) reaches them. Filled from the payments the worker sees; otherwise asked of Dodo once."""

from __future__ import annotations

import redis
from dodopayments import DodoPayments
from dodopayments.types import Payment
from pydantic import BaseModel

from worker import keys


class PaymentRecord(BaseModel):
    customer_id: str
    grant_keys: list[str]  # a subscription payment's grant is the subscription's; one-time: payment/product
    products: list[str]
    subscription_id: str | None = None
    offer_id: str | None = None  # the upsell offer this payment converted, if it did (for refund stats)
    amount: int | None = None  # net_amount: refunds counted against it never exceed it


def net_amount(payment: Payment) -> int:
    """What a payment earned: Dodo's `total_amount` less the `tax` it says it collected."""
    return payment.total_amount - (payment.tax or 0)


def record_of(payment: Payment) -> PaymentRecord:
    products = [item.product_id for item in payment.product_cart or []]
    if payment.subscription_id:
        grant_keys = [payment.subscription_id]
    else:
        grant_keys = [f"{payment.payment_id}/{product}" for product in products]
    return PaymentRecord(
        customer_id=payment.customer.customer_id,
        grant_keys=grant_keys,
        products=products,
        subscription_id=payment.subscription_id,
        offer_id=str(offer) if (offer := (payment.metadata or {}).get("upsell_offer_id")) else None,
        amount=net_amount(payment),
    )


def index_entry(payment: Payment) -> tuple[str, str, int]:
    """(key, value, TTL) of a payment's index record, for a caller to write with its own round trip."""
    return keys.payment(payment.payment_id), record_of(payment).model_dump_json(), keys.PAYMENT_TTL


def remember(client: redis.Redis, payment: Payment) -> PaymentRecord:
    key, value, ttl = index_entry(payment)
    client.set(key, value, ex=ttl)
    return PaymentRecord.model_validate_json(value)


def lookup(client: redis.Redis, api: DodoPayments, payment_id: str) -> PaymentRecord:
    """From the index, else `payments.retrieve` (no SDK retries, short timeout); raises DodoPaymentsError."""
    raw = client.get(keys.payment(payment_id))
    if raw:
        return PaymentRecord.model_validate_json(raw)
    return remember(client, api.payments.retrieve(payment_id))
