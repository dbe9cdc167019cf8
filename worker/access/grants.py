"""Each customer's grants in Redis, changed atomically together with the event that reports it.

Revocations due later (period end, grace end, a one-time grant's duration) are jobs in the worker's
own schedule, added (and the ones made stale removed) by the commit itself, under an id derived from
the grant and its end time, so a redelivery adds nothing twice; when a job fires it revokes only if
the grant still ends then.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import redis

from worker import events, keys, redis_scripts, timeline
from worker.access import numbers
from worker.access.config import AccessConfig, describe_change, limits_of, summarize
from worker.access.state import AccessState, Grant
from worker.queue import messages

Action = Literal["grant", "revoke", "end_at", "end_if_due"]  # end_at: granted until `ends_at` (cancel, hold)


@dataclass(frozen=True)
class Change:
    """One thing an event does to one grant. A subscription's grant key is its id (a new plan
    replaces the old one); a one-time item's key is payment id and product."""

    key: str
    action: Action
    source: str = ""
    product_id: str | None = None
    ends_at: float | None = None


@dataclass(frozen=True)
class Update:
    """What one webhook (or one due revocation) asks of one customer's access."""

    webhook_id: str
    customer_id: str
    at: datetime
    event_type: str  # access.granted or access.changed; access.revoked when nothing counting is left
    reason: str
    changes: list[Change] = field(default_factory=list)
    source: str | None = None  # the cause named on the event, if not `webhook_id`
    refunded: bool = False
    dispute: tuple[str, bool, tuple[str, ...]] | None = None  # (payment id, open now, grant keys it suspends)
    credit: numbers.CreditEntry | None = None  # a credit ledger entry (or a credit entitlement's name)


@dataclass(frozen=True)
class Job:
    job_id: str
    due: float
    args: tuple[str, ...]


def job_id(customer_id: str, key: str, ends_at: float) -> str:
    return f"revoke:{customer_id}:{key}:{ends_at:.3f}"


def ended(state: AccessState, now: float) -> list[Grant]:
    return [g for g in state.sorted_grants() if g.ends_at is not None and g.ends_at <= now]


def current(config: AccessConfig, state: AccessState, now: float) -> AccessState:
    """Read-time truth: a grant whose end has passed no longer counts, even before its revocation
    job has run (the job may be late: the worker was down, or busy)."""
    gone = ended(state, now)
    if not gone:
        return state
    state = state.model_copy(deep=True)
    state.grants = {k: g for k, g in state.grants.items() if g.ends_at is None or g.ends_at > now}
    state.tier, state.features = summarize(config, state.grants.values())
    state.limits = limits_of(config, state.grants.values())
    return state


def read(client: redis.Redis, config: AccessConfig, customer_id: str) -> AccessState:
    """A customer's access as it counts now."""
    return current(config, AccessState.loads(client.get(keys.access(customer_id))), time.time())


def view(config: AccessConfig, raw: str | bytes | None, customer_id: str) -> dict[str, Any]:
    """The access API's answer: what counts now, and (`ended`) grants whose end has passed but
    whose revocation has not run yet."""
    stored, now = AccessState.loads(raw), time.time()
    return current(config, stored, now).view(customer_id) | {"ended": [g.view() for g in ended(stored, now)]}


def page(
    client: redis.Redis, config: AccessConfig, cursor: str, limit: int
) -> tuple[list[dict[str, object]], str | None]:
    """Customers' current access in customer-id order after `cursor` (a customer id, '' to start):
    stable under concurrent writes, no customer twice; the next cursor, None at the end."""
    start = f"({cursor}" if cursor else "-"
    ids: list[Any] = client.zrange(keys.CUSTOMERS, start, "+", bylex=True, offset=0, num=limit)
    names = [i.decode() if isinstance(i, bytes) else i for i in ids]
    raws = client.mget([keys.access(n) for n in names]) if names else []
    items = [view(config, raw, name) for name, raw in zip(names, raws, strict=True)]
    return items, (names[-1] if len(names) == limit else None)


def apply(
    client: redis.Redis,
    stream: str,
    config: AccessConfig,
    update: Update,
    finish: str | None = None,
    index: tuple[str, str, int] | None = None,
    note: str = "",
) -> tuple[dict[str, str] | None, AccessState, bool]:
    """Apply once per webhook (scripts/commit_access.lua, a compare-and-set, no WATCH); stale
    changes are skipped. The state is not read first: the script is given the state this process
    last wrote for the customer (none for a customer it has not seen) and answers with the real one
    when that guess is wrong: one round trip when it is right (a new customer, or one this
    process wrote last), two when it is not.
    `finish`, a key marking the whole webhook processed, is set in the same commit when nothing
    follows, with `note` (the webhook's timeline line) when the commit emits no event of its own;
    `index`, a payment's (key, value, TTL), is written by the first commit whatever it finds.
    Returns the event emitted (if any), the customer's state afterwards, and whether `finish` was set."""
    key, done = keys.access(update.customer_id), keys.access_applied(update.webhook_id)
    raw: str | bytes = _last_written.get(update.customer_id, "")
    while True:
        state, before = AccessState.loads(raw), AccessState.loads(raw)  # parsing twice: 4 us, a deep copy 17
        jobs = merge(config, state, update, time.time())
        fields = None
        if _shown(before) != _shown(state):
            state.version += 1
            state.tier, state.features = summarize(config, state.grants.values())
            state.limits = limits_of(config, state.grants.values())
            fields = _event(config, update, state, before)
        stale = _replaced_jobs(update.customer_id, before, state)
        added = [part for job in jobs for part in (job.job_id, job.due, _job_message(job))]
        flat = [part for item in (fields or {}).items() for part in item]
        record_key, record, record_ttl = index or ("", "", 0)
        script_keys = [key, done, stream, keys.CUSTOMERS, finish or "", record_key, keys.SCHEDULE, keys.JOBS]
        script_keys.append(keys.timeline(update.customer_id))
        written = state.dumps()
        if fields:
            line = timeline.entry(fields["type"], fields["occurred_at"], fields["source"], update.reason)
        else:
            line = note if finish else ""
        args: list[Any] = [raw, written, keys.DONE_TTL, update.customer_id, record, record_ttl, len(jobs), len(stale)]
        args.append(line)
        args += [*added, *stale, *flat]
        result = redis_scripts.run_on_own_connection(client, "commit_access", script_keys, args)
        index = None
        if result == 1:
            _remember(update.customer_id, written)
            return fields, state, finish is not None
        status, raw = result
        _remember(update.customer_id, raw)
        if status == -1:
            return None, AccessState.loads(raw), False


def _job_message(job: Job) -> bytes:
    return messages.internal("revoke_grant", *job.args, message_id=job.job_id).encode()


# customer id -> their state as this process last saw it. An OrderedDict drops its oldest in O(1);
# a plain dict finds its first key by scanning past the slots deleted before it (2.3 against 1.2 µs).
_last_written: OrderedDict[str, str | bytes] = OrderedDict()
_last_written_lock = threading.Lock()
LAST_WRITTEN_MAX = 2_000  # the newest customers only: a guess saves one round trip, no more


def _remember(customer_id: str, raw: str | bytes) -> None:
    """Keep the guess; past the bound the oldest goes, so the worker's memory stays level."""
    with _last_written_lock:
        _last_written[customer_id] = raw
        _last_written.move_to_end(customer_id)
        if len(_last_written) > LAST_WRITTEN_MAX:
            _last_written.popitem(last=False)


def _shown(state: AccessState) -> tuple[object, ...]:
    """What an access event reports; an end date alone changes nothing yet (the revocation will)."""
    grants = {
        k: (g.source, g.product_id, g.tier, tuple(g.features), g.suspended, tuple(sorted(g.limits.items())))
        for k, g in state.grants.items()
    }
    return grants, state.credits_view()


def _replaced_jobs(customer_id: str, before: AccessState, after: AccessState) -> list[str]:
    """Jobs for end times no grant has any more (re-activated, or revoked early): removed in the
    commit that makes them stale, never by a later step a concurrent update could overtake."""
    return [
        job_id(customer_id, k, g.ends_at)
        for k, g in before.grants.items()
        if g.ends_at is not None and (k not in after.grants or after.grants[k].ends_at != g.ends_at)
    ]


def merge(config: AccessConfig, state: AccessState, update: Update, now: float) -> list[Job]:
    """Apply each change unless a newer event already touched its grant; returns the revocations to
    schedule. Every change sets its grant outright (a product, maybe an end time, or nothing), so the
    newest event per grant decides whatever the arrival order. Disputes keep their own clock per
    payment: suspension is derived from the disputes open now, never carried by a grant."""
    stamp = update.at.timestamp()
    jobs: list[Job] = []
    if update.refunded:
        state.refunded_at = max(state.refunded_at or stamp, stamp)
    if update.credit is not None:
        numbers.apply(state, update.credit)
    if update.dispute and _newer(state, f"dispute:{update.dispute[0]}", stamp):
        payment_id, now_open, suspends = update.dispute
        state.open_disputes = sorted(set(state.open_disputes) - {payment_id} | ({payment_id} if now_open else set()))
        state.suspending.pop(payment_id, None)
        if now_open and suspends:
            state.suspending[payment_id] = list(suspends)
    for change in update.changes:
        current = state.grants.get(change.key)
        if change.action == "end_if_due":
            if current is not None and current.ends_at == change.ends_at:
                del state.grants[change.key]
            continue
        if not _newer(state, change.key, stamp):
            continue
        grant = config.grant(change.source, change.product_id) if change.product_id else None
        if change.action == "revoke" or grant is None or (change.ends_at is not None and change.ends_at <= now):
            state.grants.pop(change.key, None)
            continue
        state.grants[change.key] = grant
        if change.ends_at is not None:
            reason = "expired" if change.action == "grant" else update.reason  # a one-time lifetime ran out
            source = update.source or update.webhook_id
            grant.ends_at, grant.end_reason, grant.end_source = change.ends_at, reason, source
            args = (update.customer_id, change.key, repr(change.ends_at), reason, source)
            jobs.append(Job(job_id(update.customer_id, change.key, change.ends_at), change.ends_at, args))
    suspended = {key for keys_ in state.suspending.values() for key in keys_}
    for key, grant in state.grants.items():
        grant.suspended = key in suspended
    return jobs


def _newer(state: AccessState, clock_key: str, stamp: float) -> bool:
    """True (and the clock moves) unless a newer event already touched this key."""
    if state.clock.get(clock_key, float("-inf")) > stamp:
        return False
    state.clock[clock_key] = stamp
    return True


def _event(config: AccessConfig, update: Update, state: AccessState, before: AccessState) -> dict[str, str]:
    after = state.sorted_grants()
    counting = [g for g in after if not g.suspended]
    event_type = update.event_type if counting or update.credit is not None else "access.revoked"
    balances = (
        {k: c.balance for k, c in before.credits.items()},
        {k: c.balance for k, c in state.credits.items()},
    )
    data = {
        "version": state.version,
        "tier": state.tier,
        "features": state.features,
        "grants": [g.view() for g in after],
        "limits": state.limits,
        "credits": state.credits_view(),
        "change": describe_change(config, before.grants.values(), after, update.reason, balances),
    }
    event_id = events.stable_id(update.webhook_id, "access")
    return events.entry(event_id, event_type, update.customer_id, update.at, update.source or update.webhook_id, data)


def due_revocations(
    client: redis.Redis, customer_id: str, key: str, ends_at: str, reason: str, source: str
) -> list[Update]:
    """A revocation job's update, after those of the customer's grants that ended earlier and are
    still held (their jobs not run yet: the worker was down over both): revocations apply in due
    order. Each update keeps its own job's id, so the earlier jobs, when they run, change nothing."""
    due = float(ends_at)
    state = AccessState.loads(client.get(keys.access(customer_id)))
    earlier = sorted((g.ends_at, k, g) for k, g in state.grants.items() if g.ends_at is not None and g.ends_at < due)
    updates = [
        due_revocation(customer_id, k, repr(end), g.end_reason or reason, g.end_source or source)
        for end, k, g in earlier
    ]
    return [*updates, due_revocation(customer_id, key, ends_at, reason, source)]


def due_revocation(customer_id: str, key: str, ends_at: str, reason: str, source: str) -> Update:
    """The update a scheduled revocation applies when it fires."""
    due = float(ends_at)
    when = datetime.fromtimestamp(due, UTC)
    change = Change(key, "end_if_due", ends_at=due)
    return Update(job_id(customer_id, key, due), customer_id, when, "access.changed", reason, [change], source=source)
