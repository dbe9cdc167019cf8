"""Each customer's grants in Redis, changed atomically together with the event that reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from worker import events, keys, redis_scripts
from worker.access.config import AccessConfig, describe_change, summarize
from worker.access.state import AccessState, Grant


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


def read(client: redis.Redis, customer_id: str) -> AccessState:
    return AccessState.loads(client.get(keys.access(customer_id)))


def apply(
    client: redis.Redis, stream: str, config: AccessConfig, update: Update, finish: str | None = None
) -> tuple[dict[str, str] | None, AccessState, bool]:
    """Apply once per webhook (scripts/commit_access.lua, a compare-and-set: two round trips, no
    WATCH); stale sources are skipped. `finish`, a key marking the whole webhook processed, is set
    in the same commit when nothing follows. Returns the event emitted (if any), the customer's
    state afterwards, and whether `finish` was set."""
    key, done = keys.access(update.customer_id), keys.access_applied(update.webhook_id)
    while True:
        raw, applied = client.mget(key, done)
        state = AccessState.loads(raw)
        if applied:
            return None, state, False
        before = list(state.grants.values())
        fields = None
        if merge(config, state, update):
            state.version += 1
            state.tier, state.features = summarize(config, state.grants.values())
            fields = _event(config, update, state, before)
        flat = [part for item in (fields or {}).items() for part in item]
        script_keys = [key, done, stream, *([finish] if finish else [])]
        result = redis_scripts.run(
            client, "commit_access", script_keys, [raw or "", state.dumps(), keys.DONE_TTL, *flat]
        )
        if result == 1:
            return fields, state, finish is not None
        if result == -1:
            return None, state, False


def merge(config: AccessConfig, state: AccessState, update: Update) -> bool:
    """Apply each source unless a newer event already set it; True if the grants changed."""
    changed = False
    stamp = update.at.timestamp()
    for grant_key, source, product_id in update.items:
        if state.clock.get(grant_key, float("-inf")) > stamp:
            continue
        state.clock[grant_key] = stamp
        grant = config.grant(source, product_id) if product_id else None
        if grant is None:
            changed |= state.grants.pop(grant_key, None) is not None
        elif state.grants.get(grant_key) != grant:
            state.grants[grant_key] = grant
            changed = True
    return changed


def _event(config: AccessConfig, update: Update, state: AccessState, before: list[Grant]) -> dict[str, str]:
    after = state.sorted_grants()
    event_type = update.event_type if after else "access.revoked"
    data = {
        "version": state.version,
        "tier": state.tier,
        "features": state.features,
        "grants": [g.model_dump() for g in after],
        "change": describe_change(config, before, after),
    }
    return events.entry(
        events.stable_id(update.webhook_id, "access"),
        event_type,
        update.customer_id,
        update.at,
        update.webhook_id,
        data,
    )
