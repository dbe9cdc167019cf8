"""How long a webhook takes to become access and an offer, with workers idle between purchases.

    .venv/bin/python -m bench.latency [purchases]

For each mode, in the same run: a fresh Valkey, the Dodo emulator, `dodo-upsell web` and one worker
process (4 threads); purchases posted one at a time with random gaps of 50-400 ms (the worker idle
between them), then a minute idle. Measured from the receiver's 200 to the entry on `upsell:events` (read with a
blocking XREAD): `access.granted`, and `offer.created` (the moment the offer is listed by
`GET /api/customers/{id}/offers`: the same commit). Modes: `sleep`, Dramatiq's consumer sleeping
with back-off between empty polls (the code before wake-on-enqueue, UPSELL_WAKE_ON_ENQUEUE=off), and
`wake`, the worker blocked on its queue's wake-up list. Prints p50, p99 and max per path and mode,
and how fast the append-only file grows while the system is idle (what an idle hour writes).
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

import httpx
import redis

from bench import harness
from worker.cli.send import signed_headers

PATHS = ("access.granted", "offer.created")
IDLE_SECONDS = 60


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(mode: str, purchases: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {path: [] for path in PATHS}
    with harness.valkey() as url:
        environment = harness.env(url) | {"UPSELL_WAKE_ON_ENQUEUE": "off" if mode == "sleep" else "on"}
        dodo_port, web_port = harness.free_port(), harness.free_port()
        emulator = [sys.executable, "-m", "emulator", "--port", str(dodo_port), "--secret", harness.SECRET]
        dodo = f"http://127.0.0.1:{dodo_port}"
        environment |= {"DODO_PAYMENTS_BASE_URL": dodo, "DODO_PAYMENTS_API_KEY": "bench"}
        with (
            harness.process(emulator, environment, ready_url=f"{dodo}/_emulator/requests"),
            harness.receiver(web_port, environment),
            harness.worker(environment, threads=4),
        ):
            client = redis.Redis.from_url(url, decode_responses=True)
            rng = random.Random(7)
            last = "$"
            for n in range(purchases + 5):
                event = harness.payment(n, customers=100_000)
                event["data"]["metadata"] = {"upsell_source": "post_purchase"}
                body = json.dumps(event).encode()
                webhook_id = f"msg_latency_{mode}_{n}"
                headers = signed_headers(harness.SECRET, webhook_id, body)
                answer = httpx.post(f"http://127.0.0.1:{web_port}/webhooks/dodo", content=body, headers=headers)
                answered = time.perf_counter()
                assert answer.status_code == 200, answer.text
                pending = set(PATHS)
                while pending:
                    batches: Any = client.xread({"upsell:events": last}, block=5000, count=10)
                    assert batches, f"{mode}: nothing on the stream within 5 s"
                    for entry_id, fields in batches[0][1]:
                        last = entry_id
                        if fields["type"] in pending and n >= 5:  # the first five warm up
                            found[fields["type"]].append((time.perf_counter() - answered) * 1000)
                        pending.discard(fields["type"])
                time.sleep(rng.uniform(0.05, 0.4))
            before = int(client.info("persistence")["aof_current_size"])
            time.sleep(IDLE_SECONDS)  # nothing to wait for: the idle writes are what is measured
            grown = int(client.info("persistence")["aof_current_size"]) - before
            found["idle_aof_bytes_per_hour"] = [grown * 3600 / IDLE_SECONDS]
    return found


def main() -> None:
    purchases = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    results = {mode: run(mode, purchases) for mode in ("sleep", "wake")}
    print(f"{purchases} purchases, idle between them (random 50-400 ms gaps), ms from the 200:")
    for path in PATHS:
        for mode, found in results.items():
            values = found[path]
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            print(f"  {path:15} {mode:6} p50 {p50:7.1f}  p99 {p99:7.1f}  max {max(values):7.1f}")
        ratio = percentile(results["wake"][path], 0.99) / percentile(results["sleep"][path], 0.99)
        print(f"  {path:15} p99 ratio wake / sleep: {ratio:.3f}")
    for mode, found in results.items():
        print(f"  idle AOF growth, {mode:5}: {found['idle_aof_bytes_per_hour'][0] / 1024:.0f} KiB an hour")


if __name__ == "__main__":
    main()
