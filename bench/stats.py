"""Stats: report time with 1,000 and with 1,000,000 offers counted, and as many holdout matches with
their payments (same rules, same window), and their ratio; near 1 because a report reads one
counter hash per day and one lift hash per rule, never the offers or the customers.

    .venv/bin/python -m bench.stats
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis

from bench import harness
from worker import keys
from worker.stats import counters, report

RULES, VARIANTS, DAYS = 10, 2, 7
METRICS = ("created", "accepted", "converted", "declined", "revenue:USD", "refunded:USD")


def record(client: redis.Redis, offers: int) -> None:
    """The increments `offers` offers make (HINCRBY per transition), spread over the last 7 days."""
    today = datetime.now(UTC).date()
    with client.pipeline(transaction=False) as pipe:
        for n in range(offers):
            day = (today - timedelta(days=n % DAYS)).isoformat()
            field = counters.SEP.join((f"rule-{n % RULES}", f"v{n % VARIANTS}", METRICS[n % len(METRICS)]))
            pipe.hincrby(keys.stats(day), field, 1)
            group = "held_out" if n % 10 == 0 else "exposed"  # a match, and its customer's payment
            pipe.hincrby(keys.lift_stats(f"rule-{n % RULES}"), f"n:{group}", 1)
            pipe.hincrby(keys.lift_stats(f"rule-{n % RULES}"), f"sum:{group}:USD", 400 + n % 300)
            pipe.hincrbyfloat(keys.lift_stats(f"rule-{n % RULES}"), f"sq:{group}:USD", (400 + n % 300) ** 2)
            if n % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()


def timed(client: redis.Redis, runs: int = 50) -> float:
    today = datetime.now(UTC).date()
    report.report(client, today - timedelta(days=DAYS - 1), today)  # warm: connection, imports
    started = time.perf_counter()
    for _ in range(runs):
        report.report(client, today - timedelta(days=DAYS - 1), today)
    return (time.perf_counter() - started) / runs * 1000


def main() -> None:
    with harness.valkey() as url:
        client = redis.Redis.from_url(url)
        results = {}
        for offers in (1_000, 1_000_000):
            client.flushall()
            record(client, offers)
            results[offers] = timed(client)
            print(f"{offers:>9,} offers and holdout matches counted: report over {DAYS} days {results[offers]:.2f} ms")
        print(f"ratio 1,000,000 / 1,000: {results[1_000_000] / results[1_000]:.2f}")


if __name__ == "__main__":
    main()
