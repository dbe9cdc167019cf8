"""Running an endpoint, in-process against a real Redis and real HTTP consumers: the attempt log
(status or error class, duration, the answer's first 4 KiB, the next attempt), SSRF (private and
metadata addresses refused before any connection, http:// only when allowed), health (failing told
after the 4th attempt, disabled after 5 days of failures under the moved clock, enabled again
delivering what waited in order, recovered told), recovery after an outage of hours, resend, and
operator events never sent to the endpoint they are about."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
import time_machine
from standardwebhooks.webhooks import Webhook

from tests.conftest import free_port
from tests.test_delivery_manners import SECRET, STREAM, Consumer, consumer  # noqa: F401 - fixture
from worker import keys, timeline
from worker.delivery import addresses, attempts, deliver, endpoints, health, outbox, recovery, send
from worker.delivery.endpoints import Endpoint
from worker.delivery.policy import Policy

POLICY = Policy((5, 30, 120, 600, 1800), STREAM)


def queued(client: redis.Redis, endpoint: Endpoint, customer: str = "cus_d") -> None:
    """One more event for the customer, copied into the endpoint's lists as the dispatcher does."""
    client.set(keys.DELIVERY_CURSOR, "0-0", nx=True)
    data = json.dumps({"customer_id": customer, "version": 1})
    fields = {"id": f"evt_{time.monotonic_ns()}", "type": "access.granted", "customer_id": customer}
    client.xadd(STREAM, fields | {"occurred_at": "2026-12-03T00:00:00Z", "source": "msg", "data": data})
    outbox.dispatch(client, STREAM, [endpoint], block_ms=0)


def step(client: redis.Redis, endpoint: Endpoint, customer: str = "cus_d", policy: Policy = POLICY) -> str:
    client.delete(keys.SCHEDULE)  # no scheduler here: each step is run by hand
    return deliver.step(client, {endpoint.id: endpoint}, endpoint.id, customer, policy)


def operator_events(client: redis.Redis) -> list[dict[str, str]]:
    return [f for _, f in client.xrange(STREAM) if f["type"].startswith(("delivery.", "endpoint."))]


def local(consumer: Consumer, **options: object) -> Endpoint:  # noqa: F811
    return Endpoint("e", consumer.url, SECRET, ("*",), "f", allow_private=True, **options)  # type: ignore[arg-type]


def test_every_attempt_is_logged_with_its_answer_time_and_next_attempt(
    client: redis.Redis,
    consumer: Consumer,  # noqa: F811
) -> None:
    endpoint = local(consumer)
    queued(client, endpoint)
    consumer.answers += [(503, {"Retry-After": "90"}), (200, {})]
    assert "next in 90s" in step(client, endpoint)
    assert step(client, endpoint).startswith("delivered")
    first, second = attempts.read(client, "e")
    assert (first["status"], first["error"], first["attempt"]) == (503, None, 1)
    assert first["next_attempt_at"] and first["duration_ms"] > 0 and first["type"] == "access.granted"
    assert (second["status"], second["attempt"], second["next_attempt_at"]) == (200, 2, None)
    assert attempts.read(client, "e", event_id=first["event_id"]) == [first, second]
    assert attempts.read(client, "e", event_id="evt_other") == []


def test_the_attempt_log_keeps_its_retention_and_its_bound(client: redis.Redis, consumer: Consumer) -> None:  # noqa: F811
    endpoint, event = local(consumer), {"id": "evt", "type": "access.granted", "customer_id": "c"}
    with time_machine.travel(0, tick=True) as traveller:
        traveller.move_to("2026-12-01T00:00:00Z")
        attempts.record(client, "e", event, send.Answer("http_500"), 1, None, 86400)
        traveller.shift(timedelta(hours=25))
        attempts.record(client, "e", event, send.Answer("http_200"), 2, None, 86400)
    assert [line["status"] for line in attempts.read(client, "e")] == [200], "a day's retention: the older one went"
    for n in range(attempts.MOST + 5):
        attempts.record(client, "e", event | {"id": f"evt_{n}"}, send.Answer("http_200"), 1, None, 86400)
    assert client.zcard(keys.delivery_log("e")) == 10_000, "the documented bound"
    assert 86400 < client.ttl(keys.delivery_log("e")) <= 86400 + 3600, "the key itself goes an hour after its retention"
    assert endpoint.allow_private


class Big(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-length", str(10 * 1024 * 1024))
        self.end_headers()
        try:
            for _ in range(160):
                self.wfile.write(b"x" * 65536)
        except OSError:
            return  # we stop reading after 4 KiB and close

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def big() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


def test_error_classes_and_the_answer_read_no_further_than_4_kib(big: str) -> None:
    event = {"id": "evt", "type": "access.granted", "customer_id": "c", "data": {}}
    huge = send.post(Endpoint("e", big, SECRET, ("*",), "f", allow_private=True), event)
    assert huge.outcome == "http_200" and len(huge.excerpt) <= send.MAX_ANSWER_BYTES
    closed = free_port()
    refused = send.post(Endpoint("e", f"http://127.0.0.1:{closed}/h", SECRET, ("*",), "f", allow_private=True), event)
    assert refused.outcome == "refused"
    nowhere = send.post(Endpoint("e", "https://no-such-host.invalid/h", SECRET, ("*",), "f"), event)
    assert nowhere.outcome == "dns"
    tls = send.post(Endpoint("e", big.replace("http://", "https://"), SECRET, ("*",), "f", allow_private=True), event)
    assert tls.outcome == "tls", tls


def test_the_connection_is_pinned_to_the_checked_address_and_keeps_the_name() -> None:
    named = addresses.pin("https://localhost:8443/hooks?x=1", allow_private=True)
    assert (named.url.host, named.url.port, named.url.path) == ("127.0.0.1", 8443, "/hooks")
    assert (named.host, named.sni) == ("localhost:8443", "localhost"), "Host and TLS keep the name"
    assert addresses.pin("http://localhost/h", allow_private=True).sni is None, "no TLS: no SNI"
    literal = addresses.pin("https://[::1]:9000/h", allow_private=True)
    assert (literal.host, literal.sni) == ("[::1]:9000", None), "a literal address: no name to send"
    assert addresses.pin("https://[::1]/h", allow_private=True).host == "[::1]"
    assert not addresses.is_public(ipaddress.ip_address("ff0e::1")), "global multicast is no endpoint"
    assert addresses.is_public(ipaddress.ip_address("8.8.8.8"))


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "169.254.169.254", "10.1.2.3", "[::1]", "[::ffff:192.168.0.1]", "0.0.0.0"]
)
def test_a_non_global_address_is_refused_before_any_connection(host: str) -> None:
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    event = {"id": "evt", "type": "access.granted", "customer_id": "c", "data": {}}
    answer = send.post(Endpoint("e", f"https://{host}:{free_port()}/hooks", SECRET, ("*",), "f"), event)
    listener.close()
    assert answer.outcome == "forbidden_address" and "not a global unicast address" in answer.excerpt


def test_a_refused_address_is_never_connected_to(client: redis.Redis, consumer: Consumer) -> None:  # noqa: F811
    endpoint = Endpoint("e", consumer.url, SECRET, ("*",), "f")  # no allow_private
    queued(client, endpoint)
    assert "forbidden_address" in step(client, endpoint)
    assert consumer.received == [], "never a connection"
    assert attempts.read(client, "e")[0]["error"] == "forbidden_address"


def test_plain_http_is_left_out_unless_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E_SECRET", SECRET)
    monkeypatch.delenv(endpoints.ALLOW_PRIVATE, raising=False)
    entry = "  - id: {id}\n    url: http://consumer.example/hooks\n    secret_env: E_SECRET\n"
    (tmp_path / "endpoints.yaml").write_text(
        "endpoints:\n" + entry.format(id="plain") + entry.format(id="allowed") + "    allow_insecure: true\n"
        "    rate: 30/m\n"
    )
    found, warned = endpoints.load(tmp_path)
    assert list(found) == ["allowed"] and found["allowed"].rate_per_second == 0.5
    assert len(warned) == 1 and "endpoints.yaml:3: endpoint 'plain'" in warned[0] and "allow_insecure" in warned[0]
    monkeypatch.setenv(endpoints.ALLOW_PRIVATE, "1")
    found, warned = endpoints.load(tmp_path)
    assert sorted(found) == ["allowed", "plain"] and warned == [] and found["plain"].allow_private


def test_five_days_of_failures_disable_then_enabling_delivers_in_order(
    client: redis.Redis,
    consumer: Consumer,  # noqa: F811
) -> None:
    endpoint = local(consumer)
    policy = Policy((3600,) * 200, STREAM)
    for n in range(3):
        queued(client, endpoint)
    first_event = json.loads(outbox.head(client, "e", "cus_d") or "")["event"]["id"]
    with time_machine.travel("2026-12-01T00:00:00Z", tick=True) as traveller:
        for hour in range(5 * 24 + 1):
            consumer.answers.append((500, {}))
            said = step(client, endpoint, policy=policy)
            if said.startswith("parked"):
                break
            traveller.shift(timedelta(hours=1))
        told = [f["type"] for f in operator_events(client)]
        assert told == ["delivery.failing", "endpoint.disabled"], told
        failing = json.loads(operator_events(client)[0]["data"])
        assert failing["attempts"] == 4 and failing["error"] == "http_500", "told after the 4th failed attempt"
        lines = [t["what"] for t in timeline.read(client, "cus_d")]
        assert "delivery.failing" in lines and not client.exists(keys.timeline(health.ANYONE))
        assert 119 <= hour <= 121, f"disabled after {hour} hours, not 5 days"
        disabled = json.loads(operator_events(client)[1]["data"])
        assert disabled["endpoint"] == "e" and disabled["failing_since"].startswith("2026-12-01")
        assert step(client, endpoint, policy=policy).startswith("parked"), "waits, nothing dropped"
        assert client.llen(keys.delivery_queue("e", "cus_d")) == 3
        assert health.enable(client, policy, "e", "cli")
        delivered = [step(client, endpoint, policy=policy) for _ in range(3)]
    assert all(said.startswith("delivered") for said in delivered), delivered
    ids = [json.loads(body)["id"] for body, _ in consumer.received[-3:]]
    assert ids[0] == first_event and len(set(ids)) == 3
    told = [f["type"] for f in operator_events(client)]
    assert told[2:] == ["endpoint.enabled", "delivery.recovered"], told


def test_failures_that_do_not_span_a_day_do_not_disable(client: redis.Redis, consumer: Consumer) -> None:  # noqa: F811
    endpoint = local(consumer)
    policy = Policy((1,) * 20, STREAM, disable_after_seconds=60, failing_span_seconds=86400)
    queued(client, endpoint)
    with time_machine.travel("2026-12-01T00:00:00Z", tick=True) as traveller:
        for _ in range(6):
            consumer.answers.append((500, {}))
            step(client, endpoint, policy=policy)
            traveller.shift(timedelta(minutes=30))
    assert not client.exists(keys.delivery_disabled("e"))
    assert health.enable(client, policy, "e", "cli") is False, "enabling what is not disabled does nothing"
    assert not [f for f in operator_events(client) if f["type"] == "endpoint.enabled"]


def test_operator_events_go_to_the_other_endpoints_only(client: redis.Redis) -> None:
    a, b = (Endpoint(n, f"https://{n}.example/h", SECRET, ("*",), "f") for n in ("a", "b"))
    client.set(keys.DELIVERY_CURSOR, "0-0")
    health.disable(client, POLICY, a, "it answered 410 Gone")
    health.disable(client, POLICY, a, "it answered 410 Gone")
    assert len(operator_events(client)) == 1, "told once"
    outbox.dispatch(client, STREAM, [a, b], block_ms=0)
    assert client.llen(keys.delivery_queue("b", health.ANYONE)) == 1
    assert not client.exists(keys.delivery_queue("a", health.ANYONE))


def test_recovery_after_an_outage_of_hours_queues_the_dead_again_in_order_once(
    client: redis.Redis,
    consumer: Consumer,  # noqa: F811
) -> None:
    endpoint, policy = local(consumer), Policy((60,), STREAM)
    with time_machine.travel("2026-12-01T00:00:00Z", tick=True) as traveller:
        for customer in ("cus_a", "cus_b"):
            queued(client, endpoint, customer)
        early = json.loads(outbox.head(client, "e", "cus_a") or "")["event"]["id"]
        for customer in ("cus_a", "cus_b"):
            consumer.answers += [(503, {}), (503, {})]
            step(client, endpoint, customer, policy)
            step(client, endpoint, customer, policy)  # dead: one retry only
        traveller.shift(timedelta(hours=3))
        for customer in ("cus_a", "cus_b"):
            queued(client, endpoint, customer)
            consumer.answers += [(503, {}), (503, {})]
            step(client, endpoint, customer, policy)
            step(client, endpoint, customer, policy)
        assert len(outbox.dead_records(client, "e")) == 4
        traveller.shift(timedelta(minutes=30))
        done = recovery.recover(client, STREAM, "e", traveller_time(-2 * 3600))
        assert done["queued"] == 2, done
        assert recovery.recover(client, STREAM, "e", traveller_time(-2 * 3600))["queued"] == 0, "each once"
        assert len(outbox.dead_records(client, "e")) == 2, "older than the window: left dead"
        received = len(consumer.received)
        for customer in ("cus_a", "cus_b"):
            assert step(client, endpoint, customer, policy).startswith("delivered")
        assert len(consumer.received) == received + 2
        assert recovery.recover(client, STREAM, "e", traveller_time(-5 * 3600))["queued"] == 2
        resent = recovery.resend(client, STREAM, "e", early)
        assert resent is not None and resent["queued"] is False, "already waiting: never twice in a list"
        assert recovery.resend(client, STREAM, "e", "evt_never") is None
        everything = recovery.recover(client, STREAM, "e", traveller_time(-5 * 3600), everything=True)
        assert everything["queued"] == 2 and everything["already_waiting"] == 0, everything


def traveller_time(offset: float) -> float:
    return time.time() + offset


def test_the_cli_tests_an_endpoint_and_prints_its_attempts(
    client: redis.Redis,
    redis_url: str,
    consumer: Consumer,  # noqa: F811
    tmp_path: Path,
) -> None:
    (tmp_path / "access.yaml").write_text((Path(__file__).parent.parent / "rules" / "access.yaml").read_text())
    (tmp_path / "endpoints.yaml").write_text(
        f"endpoints:\n  - id: crm\n    url: {consumer.url}\n    secret_env: CRM_SECRET\n    allow_private: true\n"
        "    allow_insecure: true\n"
    )
    env = os.environ | {"REDIS_URL": redis_url, "UPSELL_RULES_DIR": str(tmp_path), "CRM_SECRET": SECRET}
    cli = [sys.executable, "-m", "worker"]
    done = subprocess.run([*cli, "deliveries", "test", "crm"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == 200
    body, headers = consumer.received[-1]
    assert Webhook(SECRET).verify(body, headers)["type"] == "endpoint.test"
    consumer.answers.append((500, {}))
    failed = subprocess.run([*cli, "deliveries", "test", "crm"], env=env, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and json.loads(failed.stdout)["status"] == 500
    shown = subprocess.run(
        [*cli, "deliveries", "attempts", "--endpoint", "crm"], env=env, capture_output=True, text=True, timeout=60
    )
    assert [json.loads(line)["status"] for line in shown.stdout.splitlines()] == [200, 500]
    enable = subprocess.run([*cli, "deliveries", "enable", "crm"], env=env, capture_output=True, text=True, timeout=60)
    assert "was not disabled" in enable.stdout


def test_resend_walks_the_stream_and_recover_counts_what_it_could_not_send(
    client: redis.Redis,
    consumer: Consumer,  # noqa: F811
) -> None:
    """An event never sent to the endpoint is found by walking the stream (past a page of 1,000);
    a copy already waiting is never queued twice (nor its chain started twice); a delivered event
    whose stream entry is gone is counted; events of one millisecond keep their order."""
    with client.pipeline(transaction=False) as pipe:
        for n in range(1_200):
            pipe.xadd(STREAM, {"id": f"evt_fill_{n}", "type": "access.granted", "customer_id": "cus_x", "data": "{}"})
        pipe.execute()
    wanted = {"id": "evt_far", "type": "access.granted", "customer_id": "cus_far", "occurred_at": "x", "source": "s"}
    entry = client.xadd(STREAM, wanted | {"data": json.dumps({"customer_id": "cus_far"})})
    resent = recovery.resend(client, STREAM, "e", "evt_far")
    assert resent == {"endpoint": "e", "event_id": "evt_far", "customer_id": "cus_far", "queued": True}
    (item,) = client.lrange(keys.delivery_queue("e", "cus_far"), 0, -1)
    assert json.loads(item)["queued_at"] == int(entry.split("-")[0]) / 1000 and json.loads(item)["entry"] == entry
    messages_before = client.llen(keys.queue(keys.INTERNAL_QUEUE))
    assert messages_before == 1, "the idle list's chain started: one deliver message"
    assert recovery.resend(client, STREAM, "e", "evt_far")["queued"] is False  # type: ignore[index]
    assert client.llen(keys.queue(keys.INTERNAL_QUEUE)) == messages_before, "no second chain for a waiting list"

    endpoint = local(consumer)
    gone = wanted | {"id": "evt_gone"}
    line = attempts.record(client, "e", gone, send.Answer("http_200"), 1, None, 86400, entry="1-0")  # trimmed
    assert line["status"] == 200
    first, second = (json.dumps({"event": {"id": f"evt_same_{k}"}, "entry": f"5-{k}"}) for k in (0, 1))
    for event_id, item in (("evt_same_1", second), ("evt_same_0", first), ("evt_far", json.loads(json.dumps(item)))):
        record = {
            "id": f"e:{event_id}",
            "endpoint": "e",
            "customer_id": "cus_same" if "same" in event_id else "cus_far",
        }
        record |= {"event_id": event_id, "type": "access.granted", "attempts": 2, "error": "http_500"}
        client.hset(
            keys.DELIVERY_DEAD, record["id"], json.dumps(record | {"dead_at": "2099-01-01T00:00:00Z", "item": item})
        )
    done = recovery.recover(client, STREAM, "e", 0, everything=True)
    assert done == {"endpoint": "e", "queued": 2, "already_waiting": 1, "no_longer_in_stream": 1}, done
    listed = [json.loads(i)["event"]["id"] for i in client.lrange(keys.delivery_queue("e", "cus_same"), 0, -1)]
    assert listed == ["evt_same_0", "evt_same_1"], "one millisecond's events in their sequence order"
    tested = recovery.test(client, endpoint, 86400)
    assert tested["status"] == 200 and attempts.read(client, "e", tested["event_id"])[0]["attempt"] == 1
