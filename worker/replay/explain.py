"""`dodo-upsell rules check` and `rules explain`: what the rules say, touching neither Redis nor Dodo."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from worker import catalog
from worker.access import grants
from worker.access.config import summarize
from worker.access.payments import PaymentRecord
from worker.access.state import AccessState, Grant
from worker.book import Book
from worker.offers import app_events, making
from worker.queue.errors import PermanentError
from worker.rules import match
from worker.webhooks import handle


def _no_index(payment_id: str) -> PaymentRecord:
    raise PermanentError(f"payment {payment_id}: refunds and disputes need the payment index in Redis to explain")


def summary(book: Book, directory: Path) -> str:
    counts = f"{book.files} files, {len(book.rules)} rules, {len(book.access.products)} products"
    endpoints = f", {len(book.endpoints)} endpoints" if book.endpoints else ""
    return f"ok: {directory}: {counts}{endpoints}"


def explain(book: Book, event_path: Path, access: dict[str, Any]) -> dict[str, Any]:
    """Which candidate rules match the event and why, and what each would do."""
    raw = event_path.read_text()
    event_type = json.loads(raw).get("type")
    if isinstance(event_type, str) and event_type.startswith("app."):
        return _explain_app_event(book, event_path, raw, access)
    if event_type not in catalog.BY_TYPE:
        raise PermanentError(
            f"{event_path}: type {event_type!r} is not handled; rules trigger on {sorted(catalog.BY_TYPE)}"
            " or app.<name>"
        )
    outcome = handle.outcome_of(book.access, _no_index, event_type, "explain", raw)
    trigger = making.Trigger(outcome.facts, "explain", subscription_id=outcome.subscription_id)
    before = AccessState(
        grants={
            "given": Grant(
                source="given", product_id="given", tier=access.get("tier"), features=sorted(access.get("features", []))
            )
        }
    )
    state = before.model_copy(deep=True)
    if outcome.update is not None:  # the worker checks has/lacks against access after the event's own change
        grants.merge(book.access, state, outcome.update, time.time())
    tier, features = summarize(book.access, grants.current(book.access, state, time.time()).grants.values())
    verdicts = match.evaluate(book.index.candidates(trigger.facts), trigger.facts, book.access, tier, features)
    return {
        "event_type": event_type,
        "customer_id": trigger.facts.customer_id,
        "facts": trigger.facts.as_dict(),
        "access": {"tier": tier, "features": features},
        "access_change": outcome.update and outcome.update.reason,
        "limits": "once_per_customer and cooldown_after_decline need Redis: not checked here",
        "rules": [_verdict(v, trigger) for v in verdicts],
    }


def _explain_app_event(book: Book, event_path: Path, raw: str, access: dict[str, Any]) -> dict[str, Any]:
    """An app event file: `{"type": "app.<name>", "customer_id": "...", "data": {...}}`."""
    try:
        event_type, data = app_events.parse(raw)
    except app_events.BadEvent as exc:
        raise PermanentError(f"{event_path}: {exc}") from None
    customer_id = str(json.loads(raw).get("customer_id") or "cus_explain")
    facts = app_events.facts(customer_id, event_type, data)
    trigger = making.Trigger(facts, "explain", subscription_id=app_events.subscription_of(data))
    tier, features = access.get("tier"), sorted(access.get("features", []))
    verdicts = match.evaluate(book.index.candidates(facts), facts, book.access, tier, features)
    return {
        "event_type": event_type,
        "customer_id": customer_id,
        "facts": facts.as_dict(),
        "access": {"tier": tier, "features": features},
        "access_change": None,
        "limits": "once_per_customer and cooldown_after_decline need Redis: not checked here",
        "rules": [_verdict(v, trigger) for v in verdicts],
    }


def _verdict(verdict: match.Verdict, trigger: making.Trigger) -> dict[str, Any]:
    rule = verdict.rule
    out: dict[str, Any] = {
        "rule_id": rule.id,
        "priority": rule.priority,
        "matched": verdict.matched,
        "reasons": verdict.reasons,
    }
    if not verdict.matched:
        return out
    if rule.notify:
        action: dict[str, Any] = {"notify": rule.notify}
    else:
        offer = making.new_offer(rule, trigger).view()
        action = {
            "offer": {k: offer[k] for k in ("type", "product_id", "quantity", "variant", "proration", "discount_code")},
            "expires_in_seconds": rule.expires_in,
        }
    if rule.delay:
        action["delay_seconds"] = rule.delay
        action["note"] = "when is checked again when the delay ends"
    out["action"] = action
    out["stops_evaluation"] = rule.stop
    return out
