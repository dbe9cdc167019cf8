"""Outbound webhooks to entitlement systems, through real parts: a local receiver that verifies
every request with `standardwebhooks`, the worker as `dramatiq worker.actors`, Valkey."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from standardwebhooks import Webhook

from tests.conftest import Stack, drained, free_port, read_events, wait_until
from tests.test_access import _cli as cli
from tests.test_offers import ADDON, BASIC, COURSE, purchase
from worker import book, keys
from worker.delivery import send

SECRET = "whsec_" + "ZW50aXRsZW1lbnRzLXNlY3JldC1mb3ItdGVzdHMtb25seQ=="


class Entitlements:
    """A receiver as an entitlement system writes it: verify, then record. `answer(event)` decides
    the status code, so a test can fail some customers, some attempts, or everything."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # accepted (2xx) deliveries, in arrival order
        self.attempts = 0
        self.forged = 0
        self.delay = 0.0
        self.answer = lambda event: 200
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    event = Webhook(SECRET).verify(body, dict(self.headers.items()))
                except Exception:
                    owner.forged += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                time.sleep(owner.delay)
                with owner.lock:
                    owner.attempts += 1
                    status = owner.answer(event)
                    if 200 <= status < 300:
                        owner.received.append(event)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" * 10_000)  # more than the worker reads

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def ids_by_customer(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for event in self.received:
            out[event["customer_id"]].append(event["id"])
        return out


def endpoints_yaml(rules_dir: Path, url: str, events: str = '["access.*"]') -> None:
    text = f"endpoints:\n  - id: entitlements\n    url: {url}\n    secret_env: ENT_SECRET\n    events: {events}\n"
    (rules_dir / "endpoints.yaml").write_text(text)


@pytest.fixture
def receiver() -> Any:
    entitlements = Entitlements()
    yield entitlements
    entitlements.server.shutdown()


def start(stack: Stack, receiver: Entitlements, backoff: str = "1s,1s,1s") -> Stack:
    endpoints_yaml(stack.rules_dir, receiver.url)
    stack.extra_env.update(ENT_SECRET=SECRET, UPSELL_DELIVERY_BACKOFF=backoff)
    stack.web()
    stack.worker()
    return stack


def buy(stack: Stack, customers: list[str], products: list[str] = [COURSE, ADDON, BASIC]) -> None:
    for product in products:
        for customer in customers:
            assert stack.post(purchase(customer=customer, product=product)).json()["status"] == "queued"


def stream_order(client: redis.Redis) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for event in read_events(client):
        if event["type"].startswith("access."):
            out[event["customer_id"]].append(event["id"])
    return out


def delivered_all(receiver: Entitlements, client: redis.Redis, total: int) -> bool:
    return len({e["id"] for e in receiver.received}) >= total


def test_every_access_event_reaches_a_verifying_receiver_once_in_order(
    stack: Stack, client: redis.Redis, receiver: Entitlements
) -> None:
    start(stack, receiver)
    customers = [f"cus_deliver_{n}" for n in range(4)]
    buy(stack, customers)
    wait_until(lambda: delivered_all(receiver, client, 12), 30, what="12 deliveries")
    drained(client)
    assert receiver.forged == 0
    assert dict(receiver.ids_by_customer()) == dict(stream_order(client))
    first = receiver.received[0]
    assert set(first) == {"schema_version", "id", "type", "customer_id", "occurred_at", "source", "data"}
    assert isinstance(first["data"], dict) and first["data"]["version"] == 1
    from worker import timeline

    lines = timeline.read(client, customers[0])
    assert [t["detail"] for t in lines if t["what"] == "delivery"] == ["delivered to entitlements"] * 3


def test_an_endpoint_failing_then_recovering_gets_everything_in_order(
    stack: Stack, client: redis.Redis, receiver: Entitlements
) -> None:
    receiver.answer = lambda event: 503 if receiver.attempts <= 6 else 200
    start(stack, receiver)
    customers = [f"cus_flaky_{n}" for n in range(3)]
    buy(stack, customers)
    wait_until(lambda: delivered_all(receiver, client, 9), 60, what="every event after the retries")
    drained(client)
    assert dict(receiver.ids_by_customer()) == dict(stream_order(client))
    assert client.hlen(keys.DELIVERY_DEAD) == 0


def test_one_customers_failures_never_delay_another_then_die_and_replay(
    stack: Stack, client: redis.Redis, receiver: Entitlements
) -> None:
    receiver.answer = lambda event: 500 if event["customer_id"] == "cus_broken" else 200
    start(stack, receiver)
    buy(stack, ["cus_broken", "cus_fine"])
    wait_until(lambda: len(receiver.ids_by_customer()["cus_fine"]) == 3, 20, what="the other customer's events")
    assert client.llen(keys.delivery_queue("entitlements", "cus_broken")) >= 1, "still retrying the broken one"

    wait_until(lambda: client.hlen(keys.DELIVERY_DEAD) == 3, 60, what="all three dead after 1 + 3 attempts each")
    listed = [
        json.loads(line) for line in cli(stack, "deliveries", "list", "--endpoint", "entitlements").stdout.splitlines()
    ]
    assert [r["customer_id"] for r in listed] == ["cus_broken"] * 3 and {r["attempts"] for r in listed} == {4}
    assert all(r["error"] == "http_500" and "item" not in r for r in listed)

    receiver.answer = lambda event: 200
    replayed = cli(stack, "deliveries", "replay", "--endpoint", "entitlements", "--all")
    assert replayed.returncode == 0, replayed.stderr
    wait_until(lambda: len(receiver.ids_by_customer()["cus_broken"]) == 3, 20, what="replayed deliveries")
    drained(client)
    assert receiver.ids_by_customer()["cus_broken"] == stream_order(client)["cus_broken"]
    assert client.hlen(keys.DELIVERY_DEAD) == 0


def test_410_gone_disables_the_endpoint_until_its_entry_changes(
    stack: Stack, client: redis.Redis, receiver: Entitlements
) -> None:
    receiver.answer = lambda event: 410
    start(stack, receiver)
    buy(stack, ["cus_gone"], [COURSE, ADDON])
    wait_until(lambda: client.exists(keys.delivery_disabled("entitlements")), what="disabled")
    worker_log = stack.procs[-1]
    wait_until(lambda: worker_log.output().count("parked: endpoint disabled") >= 3, 20, what="parked checks")
    assert receiver.attempts == 1, "nothing more is sent while disabled"

    receiver.answer = lambda event: 200
    endpoints_yaml(stack.rules_dir, receiver.url, '["access.*", "offer.*"]')
    wait_until(lambda: len(receiver.received) == 2, 20, what="both events once the entry changed")
    assert [e["data"]["version"] for e in receiver.received] == [1, 2]


def test_a_killed_worker_loses_no_delivery_and_keeps_order(
    stack: Stack, client: redis.Redis, receiver: Entitlements
) -> None:
    receiver.delay = 0.2
    start(stack, receiver)
    customers = [f"cus_kill_{n}" for n in range(6)]
    buy(stack, customers)
    wait_until(lambda: len(receiver.received) >= 3, 30, what="some deliveries")
    stack.procs[-1].kill()
    stack.worker()
    wait_until(lambda: delivered_all(receiver, client, 18), 90, what="every delivery after the restart")
    drained(client)
    expected = stream_order(client)
    for customer, ids in receiver.ids_by_customer().items():
        first_seen = list(dict.fromkeys(ids))  # at least once: a repeat may follow a kill, never a reorder
        assert first_seen == expected[customer], customer


def test_a_slow_endpoint_never_holds_up_event_processing(
    stack: Stack, client: redis.Redis, receiver: Entitlements
) -> None:
    receiver.delay = 6
    start(stack, receiver)
    buy(stack, [f"cus_slow_{n}" for n in range(8)], [COURSE])
    started = time.monotonic()
    wait_until(lambda: client.xlen("upsell:events") >= 8, 30, what="every event processed")
    assert time.monotonic() - started < 6, "processing waited on the endpoint"


def test_access_pages_every_customer_once(stack: Stack, client: redis.Redis) -> None:
    stack.web()
    stack.worker()
    customers = sorted(f"cus_page_{n:02d}" for n in range(7))
    buy(stack, customers, [COURSE])
    wait_until(lambda: client.zcard(keys.CUSTOMERS) == 7, what="7 customers indexed")
    seen, cursor = [], ""
    while cursor is not None:
        page = stack.api("GET", "/api/access", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["customer_id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert seen == customers
    assert stack.api("GET", "/api/access", params={"limit": 0}).status_code == 400


def test_endpoints_yaml_errors_and_missing_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import ROOT

    (tmp_path / "access.yaml").write_text((ROOT / "rules" / "access.yaml").read_text())
    (tmp_path / "endpoints.yaml").write_text(
        "endpoints:\n  - id: a\n    url: ftp://x\n    secret_env: A_SECRET\n  - id: b\n    url: http://x\n"
        "    secret_env: B_SECRET\n    colour: red\n"
    )
    with pytest.raises(book.yamlsource.ProblemsFound) as found:
        book.load_dir(tmp_path)
    reported = str(found.value)
    assert "endpoints.yaml:3: endpoints.0.url: must be an http" in reported and "endpoints.yaml:8:" in reported

    (tmp_path / "endpoints.yaml").write_text(
        "endpoints:\n  - id: a\n    url: https://a\n    secret_env: A_SECRET\n"
        "  - id: b\n    url: https://b\n    secret_env: B_SECRET\n"
    )
    monkeypatch.delenv("A_SECRET", raising=False)
    monkeypatch.setenv("B_SECRET", SECRET)
    loaded = book.load_dir(tmp_path)
    assert list(loaded.endpoints) == ["b"]
    assert loaded.warnings == (
        f"{tmp_path / 'endpoints.yaml'}:4: endpoint 'a': A_SECRET is not set: this endpoint gets nothing until it is",
    )
    monkeypatch.setenv("A_SECRET", "whsec_c2hvcnQ=")
    (warning,) = book.load_dir(tmp_path).warnings
    assert "A_SECRET: a secret decodes to 5 bytes" in warning and "c2hvcnQ" not in warning


def test_signed_exactly_as_standard_webhooks_expects() -> None:
    from worker.delivery.endpoints import Endpoint
    from worker.delivery.send import signed

    endpoint = Endpoint("e", "http://x", SECRET, ("*",), "f")
    event = {"id": "evt_1", "type": "access.granted", "customer_id": "c", "data": {"v": 1}}
    content, headers = signed(endpoint, event)
    assert Webhook(SECRET).verify(content, headers) == event and headers["webhook-id"] == "evt_1"
    with pytest.raises(Exception):
        Webhook("whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0xMjM0NTY=").verify(content, headers)


class Dripper:
    """An endpoint that answers one byte a second, for ever: each connection's life is recorded."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"
        self.lived: list[float] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        began = time.monotonic()
        conn.recv(65536)
        try:
            for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nx-drip: "):
                conn.send(bytes([byte]))
                time.sleep(1)
        except OSError:
            self.lived.append(time.monotonic() - began)


def test_dripping_endpoints_hold_no_worker_and_each_attempt_ends_at_its_deadline(
    stack: Stack, client: redis.Redis
) -> None:
    dripper = Dripper()
    entries = "".join(
        f"  - id: drip{n}\n    url: {dripper.url}\n    secret_env: ENT_SECRET\n    events: ['access.*']\n"
        for n in range(4)
    )
    (stack.rules_dir / "endpoints.yaml").write_text("endpoints:\n" + entries)
    stack.extra_env.update(ENT_SECRET=SECRET, UPSELL_DELIVERY_BACKOFF="1s,1s,1s")
    stack.web()
    stack.worker(threads=2)
    buy(stack, [f"cus_drip_{n}" for n in range(6)], [COURSE])
    wait_until(lambda: client.xlen("upsell:events") >= 6, 30, what="the first events")
    for n in range(5):  # while every endpoint drips, each webhook is applied as fast as ever
        before = client.xlen("upsell:events")
        sent = time.monotonic()
        buy(stack, [f"cus_after_drip_{n}"], [COURSE])
        wait_until(lambda: client.xlen("upsell:events") > before, 10, interval=0.01, what="applied")
        assert time.monotonic() - sent < 3.0, "a webhook waited on a dripping endpoint (an attempt holds 15 s)"
    wait_until(lambda: len(dripper.lived) >= 4, 40, what="attempts cut at their deadline")
    assert all(send.ATTEMPT_SECONDS - 1 < lived < send.ATTEMPT_SECONDS + 3 for lived in dripper.lived), dripper.lived


def test_a_rate_limit_holds_across_two_worker_processes_and_waiting_is_not_an_attempt(
    stack: Stack, client: redis.Redis, receiver: Entitlements
) -> None:
    """`rate: 4/s`: two workers together send at most a second's worth at once and four a second
    after; every event still arrives, in order per customer, and the attempt log holds only attempts."""
    endpoints_yaml(stack.rules_dir, receiver.url)
    with (stack.rules_dir / "endpoints.yaml").open("a") as text:
        text.write("    rate: 4/s\n")
    stack.extra_env.update(ENT_SECRET=SECRET)
    stack.web()
    stack.worker()
    stack.worker()
    arrived: list[float] = []
    receiver.answer = lambda event: arrived.append(time.monotonic()) or 200  # type: ignore[func-returns-value]
    customers = [f"cus_rate_{n}" for n in range(16)]
    buy(stack, customers, [COURSE])
    wait_until(lambda: delivered_all(receiver, client, 16), 60, what="16 deliveries")
    busiest = max(sum(1 for t in arrived if start <= t < start + 1) for start in arrived)
    assert busiest <= 8, f"{busiest} in one second: the bucket holds 4 and refills 4 a second"
    assert arrived[-1] - arrived[0] >= 2.5, "16 at 4 a second, 4 at once: 3 s at least"
    from worker.delivery import attempts

    wait_until(lambda: len(attempts.read(client, "entitlements")) >= 16, 20, what="the 16th attempt logged")
    drained(client)
    logged = attempts.read(client, "entitlements")  # written after each answer: read once all are in
    assert len(logged) == 16 and all(line["status"] == 200 for line in logged), "a wait for a token is not an attempt"
