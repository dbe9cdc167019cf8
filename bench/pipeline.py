"""Pipeline: signed webhooks posted until each one's access event is on `upsell:events`, one worker
process (8 threads); in the same run, as many messages through a no-op actor on the same broker.

    .venv/bin/python -m bench.pipeline [--events 3000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import redis

from bench import harness


def wait_for(client: redis.Redis, stream: str, count: int, field: bytes, timeout: float = 300) -> list[float]:
    """When each input's entry landed (epoch seconds, from the entry id), by the input's index."""
    deadline = time.monotonic() + timeout
    while client.xlen(stream) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {client.xlen(stream)} of {count} entries on {stream} after {timeout}s")
        time.sleep(0.05)
    done = [0.0] * count
    for entry_id, fields in client.xrange(stream):
        done[int(fields[field].rsplit(b"_", 1)[-1])] = int(entry_id.split(b"-")[0]) / 1000
    return done


def report(name: str, sent: list[float], done: list[float]) -> float:
    rate = len(done) / (max(done) - min(sent))
    p50, p99 = harness.percentiles([d - s for s, d in zip(sent, done)])
    print(f"{name:10} {rate:7.0f} events/s   end-to-end p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    args = parser.parse_args()
    rules = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    shutil.copy(harness.ROOT / "rules" / "access.yaml", rules)
    with harness.valkey() as redis_url:
        client = redis.Redis.from_url(redis_url)
        environment = harness.env(redis_url, rules)
        port = harness.free_port()
        with harness.receiver(port, environment), harness.worker(environment):
            sent = [0.0] * args.events
            harness.load(port, harness.signed_requests(port, args.events, "pipe"), 16, sent)
            ours = report("pipeline", sent, wait_for(client, "upsell:events", args.events, b"source"))
        with harness.worker(environment, "bench.noop"):
            os.environ["REDIS_URL"] = redis_url
            from bench import noop

            sent = []
            for n in range(args.events):
                sent.append(time.time())
                noop.noop.send(n)
            baseline = report("no-op", sent, wait_for(client, "bench:noop", args.events, b"n"))
        print(f"ratio pipeline / no-op throughput: {ours / baseline:.2f}")


if __name__ == "__main__":
    main()
