"""Each customer's grants in Redis, changed atomically together with the event that reports it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from worker import events
from worker.access import AccessConfig, describe_change, summarize

DONE_TTL_SECONDS = 30 * 24 * 3600


def state_key(customer_id: str) -> str:
    return f"upsell:access:{customer_id}"


def _done_key(webhook_id: str) -> str:
    return f"upsell:applied:access:{webhook_id}"


@dataclass(frozen=True)
class Update:
    """What one webhook asks of one customer's access: per grant key, its source and product.

    A subscription's key is its id, so a new plan replaces the old one; a one-time item's key is
    payment id and product, since one payment can grant several products."""

    webhook_id: str
    customer_id: str
    at: datetime
    event_type: str  # access.granted (add) or access.changed (replace)
    items: list[tuple[str, str, str | None]]  # (grant key, source, product_id or None to remove)


def read(client: redis.Redis, customer_id: str) -> dict[str, Any]:
    raw = client.get(state_key(customer_id))
    return json.loads(raw) if raw else {"version": 0, "tier": None, "features": [], "grants": {}, "clock": {}}


def view(customer_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """The customer's access as the API and events show it (tier and features as last computed)."""
    grants = sorted(state["grants"].values(), key=lambda g: (g["source"], g["product_id"]))
    return {"customer_id": customer_id, "version": state["version"], "tier": state["tier"], "features": state["features"], "grants": grants}


def apply(client: redis.Redis, stream: str, config: AccessConfig, update: Update) -> dict[str, str] | None:
    """Apply once per webhook; stale sources are skipped. Returns the event emitted, if any."""
    key, done = state_key(update.customer_id), _done_key(update.webhook_id)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key, done)
                if pipe.exists(done):
                    return None
                state = read(pipe, update.customer_id)  # type: ignore[arg-type]
                before = list(state["grants"].values())
                changed = _merge(config, state, update)
                pipe.multi()
                pipe.set(done, "1", ex=DONE_TTL_SECONDS)
                fields = None
                if changed:
                    state["version"] += 1
                    state["tier"], state["features"] = summarize(config, list(state["grants"].values()))
                    fields = _event(config, update, state, before)
                    events.add(pipe, stream, fields)
                pipe.set(key, json.dumps(state, sort_keys=True))
                pipe.execute()
                return fields
            except redis.WatchError:
                continue


def _merge(config: AccessConfig, state: dict[str, Any], update: Update) -> bool:
    """Apply each source unless a newer event already set it; True if the grants changed."""
    changed = False
    stamp = update.at.timestamp()
    for key, source, product_id in update.items:
        if state["clock"].get(key, float("-inf")) > stamp:
            continue
        state["clock"][key] = stamp
        grant = config.grant(source, product_id) if product_id else None
        if grant is None:
            changed |= state["grants"].pop(key, None) is not None
        elif state["grants"].get(key) != grant:
            state["grants"][key] = grant
            changed = True
    return changed


def _event(config: AccessConfig, update: Update, state: dict[str, Any], before: list[dict[str, Any]]) -> dict[str, str]:
    after = view(update.customer_id, state)
    change = describe_change(config, before, after["grants"])
    event_type = update.event_type
    if not after["grants"]:
        event_type = "access.revoked"
    data = {k: after[k] for k in ("version", "tier", "features", "grants")} | {"change": change}
    return events.entry(
        events.stable_id(update.webhook_id, "access"), event_type, update.customer_id, update.at, update.webhook_id, data,
    )
