"""Putting deliveries back after a consumer's outage, and trying an endpoint by hand: `recover`
queues again what went dead in a window (and, with everything, what was delivered then, found
through the attempt log and read back from the stream), in stream order, each event once and never
beside a copy still waiting; `resend` one event; `test` sends a signed `endpoint.test` now."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys
from worker.delivery import attempts, outbox, send
from worker.delivery.endpoints import Endpoint
from worker.queue import messages


def enqueue(client: redis.Redis, endpoint_id: str, customer_id: str, item: str) -> bool:
    """Append to the customer's list (starting its chain if idle); False when that event is
    already waiting there (each event once)."""
    queue = keys.delivery_queue(endpoint_id, customer_id)
    event_id = json.loads(item)["event"]["id"]
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(queue)
                waiting = [json.loads(outbox.text(raw))["event"]["id"] for raw in pipe.lrange(queue, 0, -1)]
                if event_id in waiting:
                    return False
                pipe.multi()
                pipe.rpush(queue, item)
                pipe.sadd(keys.delivery_pending(endpoint_id), customer_id)
                if not waiting:
                    messages.push(pipe, messages.internal(outbox.ACTOR, endpoint_id, customer_id))
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def _from_stream(client: redis.Redis, stream: str, entry: str) -> str | None:
    """The delivery item for a stream entry, or None once the stream's retention trimmed it."""
    found: Any = client.xrange(stream, entry, entry)
    if not found:
        return None
    fields = {outbox.text(k): outbox.text(v) for k, v in found[0][1].items()}
    return json.dumps({"event": outbox.body(fields), "queued_at": int(entry.split("-")[0]) / 1000, "entry": entry})


def _order(item: str) -> tuple[int, int]:
    entry = json.loads(item).get("entry") or "0-0"
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


def recover(
    client: redis.Redis, stream: str, endpoint_id: str, since: float, everything: bool = False
) -> dict[str, Any]:
    """Queue again the endpoint's deliveries that went dead since `since` (and with `everything`
    those delivered since then too), oldest first, each event once."""
    chosen: dict[str, tuple[str, str]] = {}  # event id -> (customer, item)
    for record in outbox.dead_records(client, endpoint_id):
        if datetime.fromisoformat(record["dead_at"].replace("Z", "+00:00")).timestamp() >= since:
            client.hdel(keys.DELIVERY_DEAD, record["id"])
            chosen[record["event_id"]] = (record["customer_id"], record["item"])
    gone = 0
    if everything:
        for line in attempts.read(client, endpoint_id, since=since):
            if line["status"] is None or not 200 <= line["status"] < 300 or line["event_id"] in chosen:
                continue
            item = _from_stream(client, stream, line["entry"]) if line.get("entry") else None
            if item is None:
                gone += 1
                continue
            chosen[line["event_id"]] = (line["customer_id"], item)
    queued = skipped = 0
    for customer, item in sorted(chosen.values(), key=lambda pair: _order(pair[1])):
        if enqueue(client, endpoint_id, customer, item):
            queued += 1
        else:
            skipped += 1
    return {"endpoint": endpoint_id, "queued": queued, "already_waiting": skipped, "no_longer_in_stream": gone}


def resend(client: redis.Redis, stream: str, endpoint_id: str, event_id: str) -> dict[str, Any] | None:
    """One event to the endpoint again, behind what its customer's list holds; None when the stream
    no longer has it. Its entry comes from the attempt log, else a walk of the stream."""
    entry = next(
        (line.get("entry") for line in attempts.read(client, endpoint_id, event_id) if line.get("entry")), None
    )
    start = "-"
    while entry is None:
        batch: Any = client.xrange(stream, start, "+", count=1000)
        for entry_id, fields in batch:
            if {outbox.text(k): outbox.text(v) for k, v in fields.items()}.get("id") == event_id:
                entry = outbox.text(entry_id)
                break
        if entry is None and len(batch) < 1000:
            return None
        start = "(" + outbox.text(batch[-1][0]) if batch else "+"
    item = _from_stream(client, stream, entry)
    if item is None:
        return None
    event = json.loads(item)["event"]
    queued = enqueue(client, endpoint_id, event["customer_id"], item)
    return {"endpoint": endpoint_id, "event_id": event_id, "customer_id": event["customer_id"], "queued": queued}


def test(client: redis.Redis, endpoint: Endpoint, retention_seconds: int) -> dict[str, Any]:
    """A signed `endpoint.test` now, outside every list; its answer, also in the attempt log."""
    event = {
        "schema_version": "1",
        "id": f"test_{uuid.uuid4().hex}",
        "type": "endpoint.test",
        "customer_id": "*",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": "dodo-upsell deliveries test",
        "data": {"endpoint": endpoint.id},
    }
    answer = send.post(endpoint, event)
    line = attempts.record(client, endpoint.id, event, answer, 1, None, retention_seconds)
    return {k: line[k] for k in ("event_id", "status", "error", "duration_ms", "answer")} | {"at": line["at"]}
