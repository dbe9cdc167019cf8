"""Backtest: events per second replayed through the shipped rules, against a baseline measured in
the same run that only reads the archive and parses each body with the SDK's model (what any
replay must do); the ratio says what access, matching and offers add on top.

    .venv/bin/python -m bench.backtest [EVENTS]    # default 20,000 events over 2,000 customers
"""

from __future__ import annotations

import copy
import json
import sys
import time

import redis

from bench import harness
from worker import book, keys, redis_scripts
from worker.queue import messages
from worker.replay import backtest
from worker.webhooks.parse import parse

SUBSCRIPTION = json.loads((harness.ROOT / "emulator" / "templates" / "subscription.active.json").read_text())
PLANS = ("pdt_RUST4raxbl0Rfe4VQi1z", "pdt_PRO0planUpgrade9xQ")


def body(n: int, customers: int) -> tuple[str, str]:
    """Every third event a subscription starting, the rest course purchases, spread over customers."""
    customer = f"cus_bench{n % customers}"
    if n % 3 == 0:
        event = copy.deepcopy(SUBSCRIPTION)
        event["data"].update(product_id=PLANS[n % 2], subscription_id=f"sub_bench{n}")
    else:
        event = copy.deepcopy(harness.TEMPLATE)
        event["data"].update(payment_id=f"pay_bench{n}", metadata={"upsell_source": "post_purchase"})
        event["data"]["product_cart"] = [{"product_id": "pdt_e9mUw084cWnu0tz", "quantity": 1}]
    event["data"]["customer"]["customer_id"] = customer
    return event["type"], json.dumps(event)


def archive(client: redis.Redis, events: int, customers: int) -> None:
    """Through the receiver's own script, so entries are exactly what production archives."""
    with client.pipeline(transaction=False) as pipe:
        for n in range(events):
            event_type, text = body(n, customers)
            message_id, encoded = messages.encoded_webhook(event_type, f"msg_bench{n}", text)
            script_keys = [keys.seen(f"msg_bench{n}"), "bench:msgs", "bench:queue", keys.INBOUND]
            archived = ["webhook_id", f"msg_bench{n}", "type", event_type, "body", text]
            redis_scripts.run(pipe, "enqueue_once", script_keys, [message_id, 60, encoded, 3_600_000, *archived])
            if n % 2_000 == 1_999:
                pipe.execute()
        pipe.execute()


def read_and_parse(client: redis.Redis) -> int:
    count = 0
    for _, fields in backtest.entries(client, keys.INBOUND, "-", "+"):
        parse(fields["type"], fields["body"])
        count += 1
    return count


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rules = book.load_dir(harness.ROOT / "rules")
    with harness.valkey() as url:
        client = redis.Redis.from_url(url, decode_responses=True)
        archive(client, events, customers=events // 10)
        for round_ in (1, 2, 3):
            started = time.perf_counter()
            read = read_and_parse(client)
            baseline = read / (time.perf_counter() - started)
            started = time.perf_counter()
            result = backtest.backtest(client, rules, "upsell:events", time.time() - 3600, time.time())
            full = events / (time.perf_counter() - started)
            made = sum(rule["would_create"] for rule in result["rules"])
            print(
                f"round {round_}: read+parse {baseline:,.0f} events/s; backtest {full:,.0f} events/s "
                f"({made:,} offers predicted); ratio {full / baseline:.2f}"
            )


if __name__ == "__main__":
    main()
