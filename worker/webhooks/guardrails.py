"""What happened to offers after they converted, counted per rule and variant so `stats` can flag a
variant that converts well but comes back: refunded (stats/counters.py, with the refund), disputed,
and for upgrades cancelled within 30 days."""

from __future__ import annotations

from datetime import datetime

import structlog

from worker import keys
from worker.context import Context
from worker.offers import store
from worker.stats import counters
from worker.webhooks.effects import Lookup, Outcome

EARLY_CANCEL_SECONDS = 30 * keys.DAY
log = structlog.get_logger("guardrails")


def count(ctx: Context, outcome: Outcome, lookup: Lookup, at: datetime) -> None:
    if outcome.disputed:
        record = lookup(outcome.disputed)
        offer = store.get(ctx.client, record.offer_id) if record.offer_id else None
        if offer is not None and offer.state == "converted":
            if counters.once(ctx.client, f"dispute:{outcome.disputed}", offer, "disputed"):
                log.info("guardrail_counted", offer_id=offer.offer_id, rule_id=offer.rule_id, metric="disputed")
    if outcome.cancelled and outcome.subscription_id:
        for offer in store.for_customer(ctx.client, outcome.customer_id):
            made = datetime.fromisoformat(offer.created_at.replace("Z", "+00:00"))
            early = (at - made).total_seconds() <= EARLY_CANCEL_SECONDS
            upgrade = offer.type == "upgrade" and offer.subscription_id == outcome.subscription_id
            if upgrade and offer.state == "converted" and early:
                if counters.once(ctx.client, f"cancel:{offer.offer_id}", offer, "cancelled_early"):
                    log.info("guardrail_counted", offer_id=offer.offer_id, rule_id=offer.rule_id, metric="cancelled")
