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
    return json.loads(raw) if raw else empty()


def empty() -> dict[str, Any]:
    return {"version": 0, "tier": None, "features": [], "grants": {}, "clock": {}}


def view(customer_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """The customer's access as the API and events show it (tier and features as last computed)."""
    grants = sorted(state["grants"].values(), key=lambda g: (g["source"], g["product_id"]))
    return {"customer_id": customer_id, "version": state["version"], "tier": state["tier"], "features": state["features"], "grants": grants}


# Compare-and-set: commit the new state, the done mark and the event only if the state is still
# what we read and the webhook was not applied meanwhile. Two round trips (MGET, EVAL), no WATCH.
_COMMIT = """
if redis.call('exists', KEYS[2]) == 1 then return -1 end
local current = redis.call('get', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2])
redis.call('set', KEYS[2], '1', 'EX', ARGV[3])
if KEYS[4] then redis.call('set', KEYS[4], '1', 'EX', ARGV[3]) end
if #ARGV > 3 then redis.call('xadd', KEYS[3], '*', unpack(ARGV, 4)) end
return 1
"""


def apply(client: redis.Redis, stream: str, config: AccessConfig, update: Update,
          finish: str | None = None) -> tuple[dict[str, str] | None, dict[str, Any], bool]:
    """Apply once per webhook; stale sources are skipped. `finish`, a key marking the whole webhook
    processed, is set in the same commit when nothing follows. Returns the event emitted (if any),
    the customer's state afterwards, and whether `finish` was set."""
    key, done = state_key(update.customer_id), _done_key(update.webhook_id)
    while True:
        raw, applied = client.mget(key, done)
        state = json.loads(raw) if raw else empty()
        if applied:
            return None, state, False
        before = list(state["grants"].values())
        fields = None
        if _merge(config, state, update):
            state["version"] += 1
            state["tier"], state["features"] = summarize(config, list(state["grants"].values()))
            fields = _event(config, update, state, before)
        flat = [part for item in (fields or {}).items() for part in item]
        keys = [key, done, stream, *([finish] if finish else [])]
        result = client.register_script(_COMMIT)(keys=keys, args=[raw or "", json.dumps(state, sort_keys=True), DONE_TTL_SECONDS, *flat])
        if result == 1:
            return fields, state, finish is not None
        if result == -1:
            return None, state, False


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
