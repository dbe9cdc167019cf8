"""How long a webhook takes to become access and an offer, with workers idle between purchases.

    .venv/bin/python -m bench.latency [purchases] [worker processes, default 1]

For each mode, in the same run: a fresh Valkey, the Dodo emulator, `dodo-upsell web` and one worker
process (4 threads); purchases posted one at a time with random gaps of 50-400 ms (the worker idle
between them), each offer then accepted; then 20 s of purchases at a steady 200 a second; then a
minute idle. Measured from the receiver's 200 to the entry on `upsell:events` (read with a
blocking XREAD): `access.granted`, and `offer.created` (the moment the offer is listed by
`GET /api/customers/{id}/offers`: the same commit), and from accept's 202 to the charge's start
(its attempt mark, set right before Dodo is asked). Modes: `sleep`, Dramatiq's consumer sleeping
with back-off between empty polls (the code before wake-on-enqueue, UPSELL_WAKE_ON_ENQUEUE=off), and
`wake`, the worker blocked on its queue's wake-up list. Prints p50, p99 and max per path and mode,
and how fast the append-only file grows while the system is idle (what an idle hour writes).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import redis

from bench import harness
from worker import keys
from worker.signing import signed_headers

PATHS = ("access.granted", "offer.created", "accept -> charge")
IDLE_SECONDS = 60
STEADY_RATE, STEADY_SECONDS = 200, 20
AUTH = {"authorization": "Bearer bench"}
# One pooled client for every request: a client per request built a TLS context each time, and that
# load generator took a core of the two the system under test runs on.
HTTP = httpx.Client(timeout=15, limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def post(port: int, n: int, mode: str) -> tuple[str, float]:
    """One purchase (the shipped `course-addon` rule offers the add-on); (webhook id, time of its 200)."""
    event = harness.payment(n, customers=100_000)
    event["data"]["metadata"] = {"upsell_source": "post_purchase"}
    body = json.dumps(event).encode()
    webhook_id = f"msg_latency_{mode}_{n}"
    answer = HTTP.post(
        f"http://127.0.0.1:{port}/webhooks/dodo", content=body, headers=signed_headers(harness.SECRET, webhook_id, body)
    )
    assert answer.status_code == 200, answer.text
    return webhook_id, time.perf_counter()


def idle_purchases(client: redis.Redis, port: int, mode: str, purchases: int, found: dict[str, list[float]]) -> None:
    """One at a time, the worker idle before each; then the offer accepted, timed to its charge."""
    rng, last = random.Random(7), "$"
    for n in range(purchases + 5):
        _, answered = post(port, n, mode)
        pending, offer_id = set(PATHS[:2]), ""
        while pending:
            batches: Any = client.xread({"upsell:events": last}, block=5000, count=10)
            assert batches, f"{mode}: nothing on the stream within 5 s"
            for entry_id, fields in batches[0][1]:
                last = entry_id
                if fields["type"] in pending and n >= 5:  # the first five warm up
                    found[fields["type"]].append((time.perf_counter() - answered) * 1000)
                if fields["type"] == "offer.created":
                    offer_id = json.loads(fields["data"])["offer_id"]
                pending.discard(fields["type"])
        accepted = httpx.post(f"http://127.0.0.1:{port}/api/offers/{offer_id}/accept", headers=AUTH)
        answered = time.perf_counter()
        assert accepted.status_code == 202, accepted.text
        while not client.exists(keys.charge_attempt(offer_id)):  # set right before Dodo is asked to charge
            time.sleep(0.0002)
        if n >= 5:
            found["accept -> charge"].append((time.perf_counter() - answered) * 1000)
        time.sleep(rng.uniform(0.05, 0.4))


def steady(client: redis.Redis, port: int, mode: str, found: dict[str, list[float]]) -> None:
    """STEADY_SECONDS of purchases at STEADY_RATE a second, each timed from its 200 to its offer."""
    sent: dict[str, float] = {}
    done = threading.Event()

    def reader() -> None:
        last = "$"
        while not done.is_set() or len(found["steady offer.created"]) < len(sent):
            batches: Any = client.xread({"upsell:events": last}, block=1000, count=100)
            for entry_id, fields in batches[0][1] if batches else []:
                last = entry_id
                if fields["type"] == "offer.created" and fields["source"] in sent:
                    found["steady offer.created"].append((time.perf_counter() - sent[fields["source"]]) * 1000)
            if done.is_set() and not batches:
                return

    thread = threading.Thread(target=reader)
    thread.start()
    started, count = time.perf_counter(), STEADY_RATE * STEADY_SECONDS
    with ThreadPoolExecutor(16) as pool:
        for n in range(count):
            time.sleep(max(0.0, started + n / STEADY_RATE - time.perf_counter()))
            pool.submit(lambda n=n: sent.__setitem__(*post(port, 1_000_000 + n, mode)))
    done.set()
    thread.join(30)


def run(mode: str, purchases: int, processes: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {path: [] for path in (*PATHS, "steady offer.created")}
    with harness.valkey() as url:
        environment = harness.env(url) | {"UPSELL_WAKE_ON_ENQUEUE": "off" if mode == "sleep" else "on"}
        dodo_port, web_port = harness.free_port(), harness.free_port()
        # Dodo's webhooks reach the receiver, so accepted offers convert and no reconcile runs in the idle minute.
        receiver_url = f"http://127.0.0.1:{web_port}/webhooks/dodo"
        emulator = [sys.executable, "-m", "emulator", "--port", str(dodo_port), "--secret", harness.SECRET]
        emulator += ["--webhook-url", receiver_url]
        dodo = f"http://127.0.0.1:{dodo_port}"
        environment |= {"DODO_PAYMENTS_BASE_URL": dodo, "DODO_PAYMENTS_API_KEY": "bench"}
        with (
            harness.process(emulator, environment, ready_url=f"{dodo}/_emulator/requests"),
            harness.receiver(web_port, environment),
            harness.worker(environment, threads=4, processes=processes),
        ):
            client = redis.Redis.from_url(url, decode_responses=True)
            idle_purchases(client, web_port, mode, purchases, found)
            steady(client, web_port, mode, found)
            before = int(client.info("persistence")["aof_current_size"])
            time.sleep(IDLE_SECONDS)  # nothing to wait for: the idle writes are what is measured
            grown = int(client.info("persistence")["aof_current_size"]) - before
            found["idle_aof_bytes_per_hour"] = [grown * 3600 / IDLE_SECONDS]
    return found


def main() -> None:
    purchases = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    processes = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    results = {mode: run(mode, purchases, processes) for mode in ("sleep", "wake")}
    print(f"{purchases} purchases idle (random 50-400 ms gaps), then {STEADY_RATE}/s for {STEADY_SECONDS} s;")
    print(f"worker: {processes} process(es) of 4 threads; ms:")
    for path in (*PATHS, "steady offer.created"):
        for mode, found in results.items():
            values = found[path]
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            print(f"  {path:21} {mode:6} p50 {p50:7.1f}  p99 {p99:7.1f}  max {max(values):7.1f}")
        ratio = percentile(results["wake"][path], 0.99) / percentile(results["sleep"][path], 0.99)
        print(f"  {path:21} p99 ratio wake / sleep: {ratio:.3f}")
    for mode, found in results.items():
        print(f"  idle AOF growth, {mode:5}: {found['idle_aof_bytes_per_hour'][0] / 1024:.0f} KiB an hour")


if __name__ == "__main__":
    main()
