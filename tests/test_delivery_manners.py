"""What a consumer's team may ask of our outbound webhooks, in-process against a real Redis and a
real HTTP consumer: `Retry-After` on 429 and 503 honoured (longer, never shorter than the schedule,
at most a day), a minute at least after a bare 429, `webhook-delivery: abort` ending a delivery,
and a secret rotated with no failure window (both signatures, verified by the
`standardwebhooks` library with either secret)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from standardwebhooks.webhooks import Webhook

from tests.conftest import free_port
from worker import keys
from worker.delivery import deliver, endpoints, outbox, send
from worker.delivery.endpoints import Endpoint
from worker.delivery.policy import Policy

SECRET = "whsec_" + "bmV3LXNlY3JldC1uZXctc2VjcmV0LTEyMzQ1Ng=="
OLD = "whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LTEyMzQ1Ng=="
STREAM = "test:delivery"
BACKOFF = (5, 30, 120, 600)


class Consumer:
    """Answers each POST with the next (status, headers) it was given; keeps what it received."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.received: list[tuple[bytes, dict[str, str]]] = []
        consumer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                consumer.received.append((body, dict(self.headers)))
                status, headers = consumer.answers.pop(0) if consumer.answers else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


@pytest.fixture
def consumer() -> Iterator[Consumer]:
    found = Consumer()
    yield found
    found.server.shutdown()


def queued(client: redis.Redis, endpoint: Endpoint, customer: str = "cus_d") -> None:
    client.set(keys.DELIVERY_CURSOR, "0-0")
    data = json.dumps({"customer_id": customer, "version": 1})
    fields = {"id": f"evt_{time.monotonic_ns()}", "type": "access.granted", "customer_id": customer}
    client.xadd(STREAM, fields | {"occurred_at": "2026-12-03T00:00:00Z", "source": "msg", "data": data})
    assert outbox.dispatch(client, STREAM, [endpoint], block_ms=0) == 1


def next_due(client: redis.Redis, customer: str = "cus_d") -> float:
    """Seconds from now to the delivery's next attempt in our schedule."""
    jobs = [(job, due) for job, due in client.zrange(keys.SCHEDULE, 0, -1, withscores=True) if customer in job]
    return max(due for _, due in jobs) - time.time()


def attempt(client: redis.Redis, endpoint: Endpoint, answer: tuple[int, dict[str, str]], consumer: Consumer) -> str:
    consumer.answers.append(answer)
    client.delete(keys.SCHEDULE)  # the scheduler is not running here: each attempt's next job alone
    return deliver.step(client, {endpoint.id: endpoint}, endpoint.id, "cus_d", Policy(BACKOFF, STREAM))


def test_retry_after_makes_the_wait_longer_never_shorter_and_at_most_a_day(
    client: redis.Redis, consumer: Consumer
) -> None:
    endpoint = Endpoint("e", consumer.url, SECRET, ("*",), "f", allow_private=True)
    queued(client, endpoint)
    assert "next in" in attempt(client, endpoint, (429, {"Retry-After": "120"}), consumer)
    assert 118 <= next_due(client) <= 121
    attempt(client, endpoint, (429, {}), consumer)  # no Retry-After: a minute at least (schedule: 30 s)
    assert 58 <= next_due(client) <= 61
    in_an_hour = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    attempt(client, endpoint, (503, {"Retry-After": in_an_hour}), consumer)
    assert 3590 <= next_due(client) <= 3601
    attempt(client, endpoint, (503, {"Retry-After": "1"}), consumer)  # never sooner than the schedule (600 s)
    assert 598 <= next_due(client) <= 601
    assert send.retry_after("864000") == 864000 and deliver.next_wait(5, send.Answer("http_503", 864000)) == 86400


def test_a_consumer_may_end_a_delivery_at_once(client: redis.Redis, consumer: Consumer) -> None:
    endpoint = Endpoint("e", consumer.url, SECRET, ("*",), "f", allow_private=True)
    queued(client, endpoint)
    said = attempt(client, endpoint, (400, {"webhook-delivery": "abort"}), consumer)
    assert said.startswith("dead after 1 attempts") and "webhook-delivery: abort" in said
    (dead,) = outbox.dead_records(client, "e")
    assert "abort" in dead["error"] and dead["attempts"] == 1


def test_a_rotation_signs_with_both_secrets_until_it_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    until = datetime.now(UTC) + timedelta(days=2)
    (tmp_path / "endpoints.yaml").write_text(
        "endpoints:\n  - id: e\n    url: https://consumer.example/hooks\n    secret_env: NEW_SECRET\n"
        f"    previous_secret_env: OLD_SECRET\n    previous_secret_until: {until.isoformat()}\n"
    )
    monkeypatch.setenv("NEW_SECRET", SECRET)
    monkeypatch.setenv("OLD_SECRET", OLD)
    found, warned = endpoints.load(tmp_path)
    assert warned == []
    event: dict[str, Any] = {"id": "evt_rot", "type": "access.granted", "customer_id": "c", "data": {}}
    payload, headers = send.signed(found["e"], event)
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (OLD, SECRET):  # the consumer before the switch, and after it
        assert Webhook(secret).verify(payload, headers)["id"] == "evt_rot"
    later = until + timedelta(seconds=1)
    payload, headers = send.signed(found["e"], event, later)
    assert headers["webhook-signature"].count("v1,") == 1, "after the window: the new secret alone"
    (tmp_path / "endpoints.yaml").write_text(
        (tmp_path / "endpoints.yaml").read_text().replace(until.isoformat(), "2026-01-01T00:00:00+00:00")
    )
    _, warned = endpoints.load(tmp_path)
    assert len(warned) == 1 and "rotation window ended" in warned[0] and "endpoints.yaml:" in warned[0]
