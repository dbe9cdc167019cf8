"""The app's own moments as rule triggers: `{"type": "app.<name>", "data": {...}}` posted for a
customer (usage milestones, a plan limit near, onboarding done). Parsed here for the API, the
worker and `rules explain` alike."""

from __future__ import annotations

import re
from typing import Any

from worker import strictjson
from worker.rules.match import Facts
from worker.rules.model import APP_TRIGGER

MAX_BODY_BYTES = 64 * 1024
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, as HTTP headers carry it


class BadEvent(ValueError):
    """The app sent something we cannot use; the message says what (never echoing the data)."""


def parse(body: bytes | str) -> tuple[str, dict[str, Any]]:
    """(type, data) of an app event, or BadEvent."""
    try:
        event = strictjson.loads(body)
    except strictjson.NotStrict as exc:
        raise BadEvent(str(exc)) from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise BadEvent('body must be {"type": "app.<name>", "data": {...}}')
    if not re.fullmatch(APP_TRIGGER, event["type"]):
        raise BadEvent("type must be app.<name>: lowercase letters, digits, _ . - (up to 64)")
    data = event.get("data", {})
    if not isinstance(data, dict):
        raise BadEvent("data must be an object")
    return event["type"], data


def facts(customer_id: str, event_type: str, data: dict[str, Any]) -> Facts:
    return Facts(event_type, customer_id, fields=data)


def subscription_of(data: dict[str, Any]) -> str | None:
    """An upgrade or downgrade offer needs the subscription it changes: the app names it in data."""
    value = data.get("subscription_id")
    return value if isinstance(value, str) and value else None
