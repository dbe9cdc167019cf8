"""Pipeline: how fast one worker process (8 threads) turns queued webhooks into access events on
`upsell:events`, against a no-op actor draining as many messages from the same broker.

    .venv/bin/python -m bench.pipeline [--events 10000] [--rounds 3]

Each side drains a queue filled before its worker starts, so neither shares the cores with a
load generator or the receiver: the webhooks (each customer buys three times, 1,000 purchases
apart) go through `dodo-upsell web` first, the no-op's messages are sent directly. The rate runs
from the first entry on the stream to the last (Redis stamps both); CPU is the worker process's
and its parent's, read from /proc over the same span.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench import harness
from worker import keys


def drain(client: redis.Redis, worker_pid: int, stream: str, count: int, timeout: float = 300) -> tuple[float, float]:
    """Events per second and worker CPU µs per event while `count` entries land on `stream`."""
    deadline = time.monotonic() + timeout
    while client.xlen(stream) == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing on {stream} after {timeout}s: see /tmp/bench-*.log")
        time.sleep(0.005)
    first_count, first_cpu = client.xlen(stream), harness.cpu_seconds(worker_pid)
    while (landed := client.xlen(stream)) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {landed} of {count} entries on {stream} after {timeout}s")
        time.sleep(0.005)
    cpu = harness.cpu_seconds(worker_pid) - first_cpu
    first, last = client.xrange(stream, count=1)[0][0], client.xrevrange(stream, count=1)[0][0]
    seconds = (int(last.split(b"-")[0]) - int(first.split(b"-")[0])) / 1000
    return (count - 1) / seconds, cpu / (count - first_count) * 1e6


def ours(events: int, round_number: int, rules: Path) -> tuple[float, float]:
    with harness.valkey() as redis_url:
        client = redis.Redis.from_url(redis_url)
        environment = harness.env(redis_url, rules)
        port = harness.free_port()
        with harness.receiver(port, environment):
            harness.load(port, harness.signed_requests(port, events, f"pipe{round_number}"), 16)
        queued = client.llen(keys.queue(keys.WEBHOOK_QUEUE))
        if queued != events:
            raise SystemExit(f"the receiver queued {queued} of {events} webhooks")
        with harness.worker(environment) as worker:
            return drain(client, worker.pid, "upsell:events", events)


def noop(events: int) -> tuple[float, float]:
    with harness.valkey() as redis_url:
        client = redis.Redis.from_url(redis_url)
        environment = harness.env(redis_url)
        send = f"from bench.noop import noop\nfor n in range({events}): noop.send(n)"
        subprocess.run([sys.executable, "-c", send], cwd=harness.ROOT, env=environment, check=True)
        with harness.worker(environment, "bench.noop") as worker:
            return drain(client, worker.pid, "bench:noop", events)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rules = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    shutil.copy(harness.ROOT / "rules" / "access.yaml", rules)
    for n in range(args.rounds):
        rate, cpu = ours(args.events, n, rules)
        base_rate, base_cpu = noop(args.events)
        print(f"round {n + 1}: pipeline {rate:6.0f} events/s, worker {cpu:5.0f} µs CPU/event")
        print(f"         no-op    {base_rate:6.0f} events/s, worker {base_cpu:5.0f} µs CPU/event")
        print(f"         ratio pipeline / no-op throughput: {rate / base_rate:.2f}", flush=True)


if __name__ == "__main__":
    main()
