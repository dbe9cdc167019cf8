"""Ingest: signed webhooks against the real receiver (uvicorn, one process, Redis) and a bare endpoint.

    .venv/bin/python -m bench.ingest [--requests 6000]

Both get the same pre-signed requests from the same generator at concurrency 1, 16 and 64. The
generator is a single asyncio process writing raw HTTP/1.1 on keep-alive connections; it prints its
own CPU share: below 1.0 it was waiting on the server, not the bottleneck.
"""

from __future__ import annotations

import argparse

from bench import harness


def row(name: str, concurrency: int, r: dict[str, float]) -> str:
    return (
        f"{name:9} c={concurrency:<3} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms"
        f"  generator cpu {r['generator_cpu']:.2f}  non-200 {int(r['non_200'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=6000)
    args = parser.parse_args()
    with harness.valkey() as redis_url:
        environment = harness.env(redis_url)
        bare_port, real_port = harness.free_port(), harness.free_port()
        with harness.uvicorn_app("bench.bare:app", bare_port, environment), harness.receiver(real_port, environment):
            for concurrency in (1, 16, 64):
                count = args.requests if concurrency > 1 else args.requests // 4
                harness.load(bare_port, harness.signed_requests(bare_port, 200, "warm"), 8)
                bare = harness.load(
                    bare_port, harness.signed_requests(bare_port, count, f"bare{concurrency}"), concurrency
                )
                real = harness.load(
                    real_port, harness.signed_requests(real_port, count, f"real{concurrency}"), concurrency
                )
                print(row("bare", concurrency, bare))
                print(row("receiver", concurrency, real))
                print(
                    f"          ratio throughput {real['rps'] / bare['rps']:.2f}   p99 {real['p99_ms'] / bare['p99_ms']:.2f}x"
                )


if __name__ == "__main__":
    main()
