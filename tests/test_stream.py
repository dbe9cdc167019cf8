"""The events stream keeps `UPSELL_EVENTS_RETENTION` of entries, trimmed by age."""

from __future__ import annotations

import random
import time
import uuid

import redis

from tests.conftest import STREAM, Stack, fixture, wait_until
from worker import events


def test_trim_drops_exactly_the_entries_older_than_the_retention(client: redis.Redis) -> None:
    now = time.time()
    for age_seconds in (7200, 3601, 3599, 10):
        client.xadd(STREAM, {"id": str(age_seconds)}, id=f"{int((now - age_seconds) * 1000)}-0")
    assert events.trim(client, STREAM, 3600, now=now) == 2
    assert [fields["id"] for _, fields in client.xrange(STREAM)] == ["3599", "10"]
    assert events.trim(client, STREAM, 3600, now=now) == 0


def test_event_ids_are_the_uuid5_of_their_cause_as_published() -> None:
    """Ids published before `stable_id` was written out by hand must not change: consumers dedupe on them."""
    chance = random.Random(5)
    alphabet = "abc_XYZ019-:\x1f é€😀"
    for _ in range(5000):
        parts = ["".join(chance.choices(alphabet, k=chance.randint(0, 30))) for _ in range(chance.randint(1, 4))]
        assert events.stable_id(*parts) == str(uuid.uuid5(events._ID_NAMESPACE, "\x1f".join(parts))), parts
    assert events.stable_id("msg_1", "access") == str(uuid.uuid5(events._ID_NAMESPACE, "msg_1\x1faccess"))


def test_worker_trims_the_stream_by_age(stack: Stack, client: redis.Redis) -> None:
    stack.extra_env["UPSELL_EVENTS_RETENTION"] = "3s"
    stack.web()
    stack.worker()
    assert stack.post(fixture("subscription.active")).json()["status"] == "queued"
    wait_until(lambda: client.xlen(STREAM) > 0, what="the grant on the stream")
    wait_until(lambda: client.xlen(STREAM) == 0, timeout=15, what="the entry trimmed after 3 s")
    assert client.exists(STREAM), "trimmed, not deleted: consumer groups survive"
