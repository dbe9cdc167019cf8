"""`dodo-upsell schedule`: the worker's own schedule as an operator reads it (what, for whom, when, why)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import dramatiq
import redis

from worker import catalog, keys
from worker.offers import store

CHUNK = 1000


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def describe(client: redis.Redis, job_id: str, due: float, body: str | None) -> dict[str, Any]:
    """One job: its actor's arguments read back as what it will do, for whom, and why."""
    row: dict[str, Any] = {"job_id": job_id, "due_at": _iso(due), "what": "unknown", "customer_id": None, "why": ""}
    if body is None:
        return row | {"why": "its message is missing (claimed right now?)"}
    message = dramatiq.Message.decode(body.encode())
    args, actor = message.args, message.actor_name
    if actor == "revoke_grant":
        customer_id, grant, _, reason, source = args
        return row | {"what": f"revoke grant {grant}", "customer_id": customer_id, "why": f"{reason} ({source})"}
    if actor == "fire_rule":
        trigger = json.loads(args[1])
        customer_id = trigger["facts"]["customer_id"]
        offer = store.get(client, trigger["offer_id"]) if trigger.get("offer_id") else None
        wanted = catalog.OFFER_TRIGGERS.get(trigger["facts"]["trigger"])
        return row | {
            "what": f"fire rule {args[0]}",
            "customer_id": customer_id,
            "why": f"delay after {trigger['source']}",
            "moot": offer is not None and offer.state != wanted,  # it will skip: the offer moved on
        }
    if actor == "deliver":
        return row | {"what": f"deliver to {args[0]}", "customer_id": args[1], "why": "retry after a failed attempt"}
    if actor in ("expire_offer", "reconcile_offer"):
        offer = store.get(client, args[0])
        verb = "expire" if actor == "expire_offer" else "reconcile the charge of"
        why = "expires_in ran out" if actor == "expire_offer" else "no payment outcome yet"
        return row | {"what": f"{verb} offer {args[0]}", "customer_id": offer and offer.customer_id, "why": why}
    return row | {"what": f"{actor}{tuple(args)}"}


def listing(client: redis.Redis, customer_id: str | None, within: float | None, now: float) -> list[dict[str, Any]]:
    """Jobs due up to `within` seconds from now (all when None), soonest first, for one customer or all;
    not those that will do nothing because their offer has moved on (a converted offer's reminder)."""
    until = "+inf" if within is None else now + within
    rows: list[dict[str, Any]] = []
    start = 0
    while True:
        chunk: list[Any] = client.zrangebyscore(keys.SCHEDULE, "-inf", until, start=start, num=CHUNK, withscores=True)
        if not chunk:
            return rows
        bodies: list[Any] = client.hmget(keys.JOBS, [job for job, _ in chunk])
        for (job, due), body in zip(chunk, bodies, strict=True):
            row = describe(client, job, due, body)
            if not row.pop("moot", False) and customer_id in (None, row["customer_id"]):
                rows.append(row | {"overdue": due <= now})
        start += CHUNK


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no scheduled jobs match"
    heads = ("due_at", "customer_id", "what", "why")
    cells = [
        [str(row[h] or "-") + ("  (overdue)" if h == "due_at" and row["overdue"] else "") for h in heads]
        for row in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    return "\n".join(lines)
