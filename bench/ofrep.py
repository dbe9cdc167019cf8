"""Entitlements over OFREP, measured: a single evaluation and the bulk 304 path at a steady 500 a
second (against the access API at the same rate, the baseline, in the same run); an access change
to the `refetchEvaluation` an open event stream receives (against the same change to its entry on
`upsell:events`); 1,000 open event streams on one receiver (its memory, and evaluation latency
beside them); and the in-process provider's warm check (against OpenFeature's own in-memory
provider, through the same client).

    .venv/bin/python -m bench.ofrep
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import redis
from openfeature import api as openfeature
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from bench import harness
from dodo_upsell.openfeature import UpsellProvider
from worker import keys
from worker.access.state import AccessState, Grant

CUSTOMERS, RATE, SECONDS, STREAMS, CHANGES = 1_000, 500, 10, 1_000, 50
COURSE = "pdt_e9mUw084cWnu0tz"
AUTH = {"authorization": "Bearer bench"}
CONTENT = {"content-type": "application/json"}


def seed(client: redis.Redis) -> None:
    grant = Grant(source="pay_0", product_id=COURSE, tier=None, features=["course_rust"])
    state = AccessState(version=1, features=["course_rust"], grants={f"pay_0/{COURSE}": grant})
    with client.pipeline(transaction=False) as pipe:
        for n in range(CUSTOMERS):
            pipe.set(keys.access(f"cus_of{n}"), state.dumps())
        pipe.execute()


def percentile(found: list[float], share: float) -> float:
    found = sorted(found)
    return found[min(len(found) - 1, int(len(found) * share))] * 1000


def evaluation(n: int) -> bytes:
    body = json.dumps({"context": {"targetingKey": f"cus_of{n % CUSTOMERS}"}}).encode()
    return harness.request("POST", "/ofrep/v1/evaluate/flags/course_rust", AUTH | CONTENT, body)


def access(n: int) -> bytes:
    return harness.request("GET", f"/api/customers/cus_of{n % CUSTOMERS}/access", AUTH)


def bulk_304(etags: dict[str, str]) -> Any:
    def make(n: int) -> bytes:
        customer = f"cus_of{n % 100}"
        body = json.dumps({"context": {"targetingKey": customer}}).encode()
        return harness.request(
            "POST", "/ofrep/v1/evaluate/flags", AUTH | CONTENT | {"if-none-match": etags[customer]}, body
        )

    return make


def changes(base: str, port: int, client: redis.Redis) -> dict[str, float]:
    """A purchase per change: webhook 200 to the stream's event, and to the entry on upsell:events."""
    to_event, to_entry = [], []
    token = httpx.post(f"{base}/api/customers/cus_live/client-tokens", headers=AUTH).json()["token"]
    with (
        httpx.Client(timeout=httpx.Timeout(5, read=30)) as http,
        http.stream("GET", f"{base}/ofrep/v1/events?customer_id=cus_live&token={token}") as stream,
    ):
        lines = stream.iter_lines()
        next(lines)  # ": connected"
        for n in range(CHANGES):
            last = client.xrevrange("upsell:events", count=1)
            sent = harness.purchase(http, base, f"pay_live_{n}", "cus_live")
            entry = client.xread({"upsell:events": last[0][0] if last else "0"}, block=10_000)
            to_entry.append(time.perf_counter() - sent)
            while not next(lines).startswith("data: "):
                pass
            to_event.append(time.perf_counter() - sent)
            assert entry
    return {
        "event_p95_ms": percentile(to_event, 0.95),
        "entry_p95_ms": percentile(to_entry, 0.95),
        "event_p50_ms": percentile(to_event, 0.5),
        "event_p99_ms": percentile(to_event, 0.99),
        "entry_p50_ms": percentile(to_entry, 0.5),
        "entry_p99_ms": percentile(to_entry, 0.99),
    }


async def hold_streams(base: str, opened: threading.Event, release: threading.Event) -> None:
    async with httpx.AsyncClient(
        base_url=base, timeout=httpx.Timeout(10, read=None), limits=httpx.Limits(max_connections=STREAMS)
    ) as http:
        ready = 0

        async def one() -> None:
            nonlocal ready
            async with http.stream("GET", "/ofrep/v1/events", headers=AUTH) as stream:
                assert stream.status_code == 200
                ready += 1
                if ready == STREAMS:
                    opened.set()
                await asyncio.to_thread(release.wait)

        await asyncio.gather(*(one() for _ in range(STREAMS)))


def provider_cost(base: str) -> dict[str, float]:
    provider = UpsellProvider(base, "bench")
    openfeature.set_provider(provider, domain="upsell")
    memory = {"course_rust": InMemoryFlag("on", {"on": True, "off": False})}
    openfeature.set_provider(InMemoryProvider(memory), domain="memory")
    context = EvaluationContext(targeting_key="cus_of1")
    costs = {}
    started = time.perf_counter()
    for _ in range(20_000):
        provider.resolve_boolean_details("course_rust", False, context)
    costs["direct"] = (time.perf_counter() - started) / 20_000 * 1e6
    for name in ("upsell", "memory"):
        client = openfeature.get_client(name)
        client.get_boolean_value("course_rust", False, context)  # warm
        started, n = time.perf_counter(), 20_000
        for _ in range(n):
            client.get_boolean_value("course_rust", False, context)
        costs[name] = (time.perf_counter() - started) / n * 1e6
    provider.shutdown()
    return {"check_us": costs["upsell"], "in_memory_us": costs["memory"], "direct_us": costs["direct"]}


def main() -> None:
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    with harness.valkey() as url:
        client = redis.Redis.from_url(url, decode_responses=True)
        seed(client)
        environment = harness.env(url)
        with harness.receiver(port, environment) as web, harness.worker(environment):
            etags = {
                f"cus_of{n}": httpx.post(
                    f"{base}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": f"cus_of{n}"}}, headers=AUTH
                ).headers["etag"]
                for n in range(100)
            }
            baseline = harness.paced(port, access, RATE, SECONDS)
            one = harness.paced(port, evaluation, RATE, SECONDS)
            not_modified = harness.paced(port, bulk_304(etags), RATE, SECONDS)
            print(
                f"access API (baseline) at {RATE}/s: p50 {baseline['p50_ms']:.1f} ms, p99 {baseline['p99_ms']:.1f} ms"
            )
            print(
                f"single evaluation at {RATE}/s: p50 {one['p50_ms']:.1f} ms, p99 {one['p99_ms']:.1f} ms ({one['p99_ms'] / baseline['p99_ms']:.2f}x)"
            )
            print(
                f"bulk, 304 at {RATE}/s: p50 {not_modified['p50_ms']:.1f} ms, p99 {not_modified['p99_ms']:.1f} ms ({not_modified['p99_ms'] / baseline['p99_ms']:.2f}x)"
            )
            live = changes(base, port, client)
            print(
                f"access change -> refetchEvaluation: p50 {live['event_p50_ms']:.1f} ms, p95 {live['event_p95_ms']:.1f} ms, "
                f"max {live['event_p99_ms']:.1f} ms (-> its upsell:events entry: p50 {live['entry_p50_ms']:.1f} ms, "
                f"p95 {live['entry_p95_ms']:.1f} ms, max {live['entry_p99_ms']:.1f} ms)"
            )
            before = harness.rss_mib(web.pid)

            opened, release = threading.Event(), threading.Event()
            holder = threading.Thread(target=lambda: asyncio.run(hold_streams(base, opened, release)), daemon=True)
            holder.start()
            assert opened.wait(60), "1,000 streams open"
            held = harness.paced(port, evaluation, RATE, SECONDS) | {"rss": harness.rss_mib(web.pid)}
            release.set()
            holder.join(30)
            print(
                f"{STREAMS} open event streams: receiver RSS {before:.1f} -> {held['rss']:.1f} MiB "
                f"({(held['rss'] - before) * 1024 / STREAMS:.1f} KiB a stream); single evaluation beside them "
                f"p99 {held['p99_ms']:.1f} ms ({held['p99_ms'] / one['p99_ms']:.2f}x without)"
            )
            cost = provider_cost(base)
            print(
                f"in-process provider, warm: {cost['direct_us']:.1f} us a resolve; {cost['check_us']:.1f} us a check "
                f"through OpenFeature's client (its in-memory provider: {cost['in_memory_us']:.1f} us, "
                f"{cost['check_us'] / cost['in_memory_us']:.2f}x)"
            )
            failed = sum(r["failed"] for r in (baseline, one, not_modified, held))
            print(f"requests that failed or were refused: {failed}")


if __name__ == "__main__":
    main()
