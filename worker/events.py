"""Entries of the `upsell:events` stream, the contract entitlement systems consume."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from redis.client import Pipeline

from worker import catalog

_ID_NAMESPACE = uuid.UUID("6f1c2a9e-4b7d-4c1e-9a3f-2d8e5b7c0a11")


def stable_id(*parts: str) -> str:
    """Same cause, same id: consumers dedupe on it, so it must not depend on time or retries."""
    return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(parts)))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entry(
    event_id: str, event_type: str, customer_id: str, occurred_at: datetime, source: str, data: dict[str, Any]
) -> dict[str, str]:
    if event_type not in catalog.EMITTED:
        raise ValueError(f"unknown event type {event_type!r}")
    return {
        "id": event_id,
        "type": event_type,
        "customer_id": customer_id,
        "occurred_at": iso(occurred_at),
        "source": source,
        "data": json.dumps(data, sort_keys=True, separators=(",", ":")),
    }


def add(pipe: Pipeline, stream: str, fields: dict[str, str]) -> None:
    """Queue the XADD on a transaction, so the event lands with the state change or not at all."""
    pipe.xadd(stream, fields)  # type: ignore[arg-type]
