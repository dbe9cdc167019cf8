"""Ingest: signed webhooks against the real receiver and a bare endpoint, same server settings.

    .venv/bin/python -m bench.ingest [--rounds 3] [--seconds 5] [--connections 64]

With `wrk` installed (`apt-get install wrk`): `wrk -t2 -c64 -d5s` replaying pre-signed unique
webhooks, alternating bare and receiver for each round, in the same run. Without it, the Python
generator of bench.harness runs instead, and says so: it shares the cores with the servers and
caps the bare endpoint lower, so its ratios flatter the receiver.
"""

from __future__ import annotations

import argparse
import importlib.util
import os

import redis

from bench import harness, wrk


def row(name: str, r: dict[str, float]) -> str:
    return f"{name:9} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  non-2xx {r['non_200']:.0f}"


def server_settings() -> str:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    parser = "hiredis" if importlib.util.find_spec("hiredis") else "python"
    return f"uvicorn loop={loop} http={http}, redis parser={parser}, {os.cpu_count()} cpus"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    print(server_settings())
    if not wrk.available():
        print("wrk not found (apt-get install wrk): falling back to the Python generator, which shares the cores")
    with harness.valkey() as redis_url:
        environment = harness.env(redis_url)
        bare_port, real_port = harness.free_port(), harness.free_port()
        with harness.uvicorn_app("bench.bare:app", bare_port, environment), harness.receiver(real_port, environment):
            valkey = redis.Redis.from_url(redis_url)
            for n in range(args.rounds):
                bare = measure(bare_port, f"bare{n}", args)
                rewrites = valkey.info("persistence")["aof_rewrites"]
                real = measure(real_port, f"real{n}", args)
                rewrites = valkey.info("persistence")["aof_rewrites"] - rewrites
                print(f"round {n + 1}")
                print(row("  bare", bare))
                print(row("  receiver", real) + f"  (Valkey AOF rewrites meanwhile: {rewrites})")
                ratio, p99 = real["rps"] / bare["rps"], real["p99_ms"] / bare["p99_ms"]
                print(f"  ratio throughput {ratio:.2f}   p99 {p99:.2f}x")


def measure(port: int, prefix: str, args: argparse.Namespace) -> dict[str, float]:
    if wrk.available():
        return wrk.run(port, prefix, args.seconds, connections=args.connections)
    requests = harness.signed_requests(port, 6000, prefix)
    return harness.load(port, requests, args.connections)


if __name__ == "__main__":
    main()
