"""Memory: receiver and worker RSS over 500,000 events, sampled every tenth; flat means the
worker's RSS moves less than 2 MiB over the last 400,000 (after warm-up).

.venv/bin/python -m bench.memory [--events 500000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import redis

from bench import harness


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    args = parser.parse_args()
    rules = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    shutil.copy(harness.ROOT / "rules" / "access.yaml", rules)
    step = max(args.events // 10, 1000)
    samples: list[float] = []
    with harness.valkey() as redis_url:
        client = redis.Redis.from_url(redis_url)
        environment = harness.env(redis_url, rules)
        port = harness.free_port()
        with harness.receiver(port, environment) as web, harness.worker(environment) as worker:
            print(f"{'events':>7}  receiver MiB  worker MiB")
            print(f"{0:7}  {harness.rss_mib(web.pid):12.1f}  {harness.rss_mib(worker.pid):10.1f}")
            for start in range(0, args.events, step):
                # One customer per event: 1,000 customers buying 500 one-time products each would
                # measure their growing access state (every grant kept, every event listing them all).
                requests = harness.signed_requests(port, step, f"mem{start}", first=start, customers=args.events)
                harness.load(port, requests, 16)
                while client.xlen("upsell:events") < start + step:
                    time.sleep(0.2)
                samples.append(harness.rss_mib(worker.pid))
                print(f"{start + step:7}  {harness.rss_mib(web.pid):12.1f}  {samples[-1]:10.1f}", flush=True)
    tail = samples[len(samples) // 5 - 1 :]  # from the sample that opens the last 80% of the events
    span = (len(tail) - 1) * step
    print(f"worker RSS over the last {span:,} events: {min(tail):.1f}-{max(tail):.1f} MiB")


if __name__ == "__main__":
    main()
