"""Idle writes: the append-only file's growth and the commands per second of two idle worker
processes (4 threads each) on a fresh Valkey, Dramatiq's sleep (`UPSELL_WAKE_ON_ENQUEUE=off`)
against wake on enqueue, alternating, with no load before: what an idle hour costs, alone.

.venv/bin/python -m bench.idle [--seconds 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time

import redis

from bench import harness


def measure(mode: str, seconds: float) -> tuple[float, float]:
    """KiB of AOF an hour and commands a second, after 5 s of settling."""
    with harness.valkey() as url:
        environment = harness.env(url) | {"UPSELL_WAKE_ON_ENQUEUE": mode}
        with harness.worker(environment, threads=4, processes=2):
            client = redis.Redis.from_url(url)
            time.sleep(5)  # boot's own writes settle; nothing to wait for, the idle writes are measured
            aof, commands = (
                int(client.info("persistence")["aof_current_size"]),
                client.info("stats")["total_commands_processed"],
            )
            time.sleep(seconds)
            grown = int(client.info("persistence")["aof_current_size"]) - aof
            ran = client.info("stats")["total_commands_processed"] - commands
            return grown / 1024 * 3600 / seconds, ran / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print("mode   AOF KiB an hour   commands/s")
    for _ in range(args.rounds):
        for mode, name in (("off", "sleep"), ("on", "wake")):
            kib, per_second = measure(mode, args.seconds)
            print(f"{name:5}  {kib:15.0f}  {per_second:11.1f}", flush=True)


if __name__ == "__main__":
    main()
