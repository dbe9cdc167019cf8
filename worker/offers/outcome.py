"""How a charge ends: converted (its revenue counted in the same step), or failed with an error
code and, only once Dodo's records say no payment was made, a fallback checkout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis
import structlog
from dodopayments import DodoPayments, DodoPaymentsError

from worker import config, dodo
from worker.offers import store
from worker.offers.model import Offer
from worker.stats import counters

log = structlog.get_logger("charge")


def fallback_checkout(api: DodoPayments, offer: Offer) -> str | None:
    """A normal checkout session (no confirm, no card): the customer completes it themselves."""
    if offer.is_plan_change:
        return None
    try:
        session = api.checkout_sessions.create(**checkout_args(offer))
    except DodoPaymentsError as exc:
        log.warning("fallback_checkout_failed", error_code=dodo.error_code(exc))
        return None
    return session.checkout_url


def metadata(offer: Offer) -> dict[str, str]:
    """On every checkout and plan change: which offer, rule and purchase the money comes from."""
    tags = {"upsell_offer_id": offer.offer_id, "upsell_rule_id": offer.rule_id}
    if offer.source_payment_id:
        tags["upsell_source_payment_id"] = offer.source_payment_id
    return tags


def checkout_args(offer: Offer) -> dict[str, Any]:
    args: dict[str, Any] = {
        "product_cart": [{"product_id": offer.product_id, "quantity": offer.quantity}],
        "customer": {"customer_id": offer.customer_id},
        "metadata": metadata(offer),
    }
    return_url = offer.return_url or config.return_url()
    if return_url:
        args["return_url"] = return_url
    if offer.discount_code:
        args["discount_codes"] = [offer.discount_code]
    return args


def fail(
    client: redis.Redis,
    stream: str,
    api: DodoPayments,
    offer: Offer,
    code: str,
    source: str | None = None,
    changes: dict[str, Any] | None = None,
    fallback: bool = True,
    at: datetime | None = None,
) -> None:
    """Failed for good (never retried): the offer carries the error code and a fallback checkout URL."""
    url = fallback_checkout(api, offer) if fallback else None
    moved, _ = store.transition(
        client,
        stream,
        offer.offer_id,
        "failed",
        {"error_code": code, "checkout_url": url, **(changes or {})},
        event_type="offer.failed",
        source=source,
        at=at,
    )
    log.info("offer_failed", error_code=code, checkout_url=bool(url), moved=moved)


def convert(
    client: redis.Redis,
    stream: str,
    offer_id: str,
    payment_id: str | None,
    amount: int | None,
    currency: str | None,
    source: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Converted, its payment's revenue counted in the same transaction, whichever path settles it
    (Dodo's webhook or a reconcile): the transition happens once, so the revenue is counted once."""

    def revenue(pipe: Any, converted: Offer) -> None:
        if amount and currency:
            counters.revenue(pipe, converted, amount, currency)

    changes = {"payment_id": payment_id, "error_code": None} if payment_id else {"error_code": None}
    moved, _ = store.transition(
        client, stream, offer_id, "converted", changes, event_type="offer.converted", source=source, also=revenue, at=at
    )
    return moved
