"""Redis memory per customer, and the reads that must stay fast, at a million customers.

1. `--real` customers (default 5,000) go through the worker's own path in-process (`handle`, the
   shipped rules): a course purchase each (half from the post-purchase page: an add-on offer), half
   subscribe to the basic plan (a pro offer, a reminder scheduled a day on), renew, a quarter move to
   pro, a tenth are refunded; of the offers made, a third are declined and a third expire. Each key
   is then weighed (`MEMORY USAGE`) and counted in its family: bytes per customer, measured.
2. The access state, timeline and offer index of those customers are copied (DUMP/RESTORE, the
   same bytes) under new ids up to `--customers` (default 1,000,000), and the reads an app and an
   operator make are timed at that size: paging the whole access bootstrap (`GET /api/access`,
   1,000 a page), p99 of `GET /api/customers/{id}/access`, of the console's customer page and of
   an OFREP flag evaluation (500 each, random customers), in-process through the receiver's app.

    .venv/bin/python -m bench.million [--customers 1000000] [--real 5000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import redis

from bench import harness
from worker import keys

FAMILIES = (  # key prefix -> family; the first match wins
    ("upsell:access:", "access"),
    ("upsell:customers", "access"),
    ("upsell:timeline:", "timeline"),
    ("upsell:offer:", "offers"),
    ("upsell:customer-offers:", "offers"),
    ("upsell:once:", "offers"),
    ("upsell:cooldown:", "offers"),
    ("upsell:schedule", "schedule"),
    ("upsell:jobs", "schedule"),
    ("upsell:stats", "stats"),
    ("upsell:lift", "stats"),
    ("upsell:variant-terms", "stats"),
    ("upsell:events", "stream"),
    ("upsell:inbound", "archive"),
    ("upsell:seen:", "marks"),
    ("upsell:processed:", "marks"),
    ("upsell:applied:", "marks"),
    ("upsell:notified:", "marks"),
    ("upsell:payment:", "payments"),
)
SAMPLES = {
    n: json.loads((harness.ROOT / "emulator" / "templates" / f"{n}.json").read_text())
    for n in (
        "payment.succeeded",
        "subscription.active",
        "subscription.renewed",
        "subscription.plan_changed",
        "refund.succeeded",
    )
}
BASIC, PRO = "pdt_RUST4raxbl0Rfe4VQi1z", "pdt_PRO0planUpgrade9xQ"


def _webhook(name: str, customer: str, n: int, **data: Any) -> tuple[str, str, str]:
    body = json.loads(json.dumps(SAMPLES[name]))
    body["data"]["customer"]["customer_id"] = customer
    body["data"].update(data)
    return name, f"msg_{name}_{customer}_{n}", json.dumps(body)


def history(customer: str, n: int) -> list[tuple[str, str, str]]:
    """One customer's webhooks, in order."""
    pay = f"pay_{customer}"
    metadata = {"upsell_source": "post_purchase"} if n % 2 == 0 else {}
    hooks = [_webhook("payment.succeeded", customer, 0, payment_id=pay, metadata=metadata)]
    if n % 2 == 0:
        sub = f"sub_{customer}"
        hooks += [_webhook("subscription.active", customer, 1, subscription_id=sub, product_id=BASIC)]
        hooks += [_webhook("subscription.renewed", customer, 2, subscription_id=sub, product_id=BASIC)]
        if n % 4 == 0:
            hooks += [_webhook("subscription.plan_changed", customer, 3, subscription_id=sub, product_id=PRO)]
    if n % 10 == 9:
        hooks += [_webhook("refund.succeeded", customer, 4, payment_id=pay)]
    return hooks


def load_real(client: redis.Redis, real: int) -> float:
    """The worker's own path, in-process; returns seconds. Dramatiq's queues are emptied after
    (a running worker drains them: they are not what a customer costs)."""
    from worker import archive, context, logs
    from worker.offers import store
    from worker.webhooks.handle import handle

    ctx = context.bootstrap()
    logs.configure(level=logging.WARNING)  # a line per webhook would be most of the time
    started = time.perf_counter()
    for n in range(real):
        customer = f"cus_real_{n:07d}"
        for event_type, webhook_id, body in history(customer, n):
            client.set(keys.seen(webhook_id), 1, ex=keys.SEEN_TTL)  # the receiver's marks and archive
            client.xadd(keys.INBOUND, {"webhook_id": webhook_id, "type": event_type, "bodyz": archive.pack(body)})
            handle(ctx, event_type, webhook_id, body)
        for k, offer in enumerate(store.page(ctx.client, customer, 0, 100)[0]):
            if offer.state == "pending" and (n + k) % 3 < 2:
                store.transition(ctx.client, ctx.stream, offer.offer_id, ("declined", "expired")[(n + k) % 3])
    took = time.perf_counter() - started
    for name in (keys.WEBHOOK_QUEUE, keys.INTERNAL_QUEUE):
        client.delete(keys.queue(name), keys.queue_messages(name))
    return took


def weigh(client: redis.Redis) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Bytes by family, and per family the kinds of key (their name up to the id) kept for ever."""
    found: dict[str, int] = defaultdict(int)
    forever: dict[str, set[str]] = defaultdict(set)
    for key in client.scan_iter(count=5000):
        name = key.decode()
        family = next((f for prefix, f in FAMILIES if name.startswith(prefix)), "other")
        found[family] += int(client.memory_usage(name, samples=0) or 0)
        if client.ttl(name) == -1:
            forever[family].add(name.rsplit(":", 1)[0] if name.count(":") > 1 else name)
    return dict(found), dict(forever)


def grow(client: redis.Redis, real: int, customers: int) -> float:
    """Copies of the real customers' access, timeline and offer index up to `customers`."""
    started = time.perf_counter()
    made = {
        n: {
            kind: client.dump(getattr(keys, kind)(f"cus_real_{n:07d}"))
            for kind in ("access", "timeline", "customer_offers")
        }
        for n in range(real)
    }
    with client.pipeline(transaction=False) as pipe:
        for m in range(real, customers):
            customer = f"cus_copy_{m:07d}"
            for kind, dumped in made[m % real].items():
                if dumped is not None:
                    pipe.restore(getattr(keys, kind)(customer), 0, dumped, replace=True)
            pipe.zadd(keys.CUSTOMERS, {customer: 0})
            if m % 5000 == 0:
                pipe.execute()
        pipe.execute()
    return time.perf_counter() - started


def p99(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99) - 1] * 1000


def reads(customers: int, real: int) -> dict[str, float]:
    from starlette.testclient import TestClient

    from receiver.app import create_app
    from worker import config

    rng = random.Random(7)
    ids = [
        f"cus_real_{rng.randrange(real):07d}"
        if k % 2
        else f"cus_copy_{rng.randrange(real, max(customers, real + 1)):07d}"
        for k in range(500)
    ]
    with TestClient(create_app(config.load())) as web:
        started, cursor, pages = time.perf_counter(), "", 0
        while cursor is not None:
            page = web.get(
                "/api/access",
                params={"limit": 1000, **({"cursor": cursor} if cursor else {})},
                headers={"authorization": "Bearer bench"},
            ).json()
            cursor, pages = page["next_cursor"], pages + 1
        bootstrap = time.perf_counter() - started
        web.post("/console/login", data={"token": os.environ["UPSELL_CONSOLE_TOKENS"]})
        timed: dict[str, list[float]] = defaultdict(list)
        for customer in ids:
            for what, call in (
                (
                    "access API",
                    lambda c=customer: web.get(f"/api/customers/{c}/access", headers={"authorization": "Bearer bench"}),
                ),
                ("console customer page", lambda c=customer: web.get("/console/customers", params={"id": c})),
                (
                    "flag evaluation",
                    lambda c=customer: web.post(
                        "/ofrep/v1/evaluate/flags/reports",
                        json={"context": {"targetingKey": c}},
                        headers={"authorization": "Bearer bench"},
                    ),
                ),
            ):
                t = time.perf_counter()
                assert call().status_code == 200, what
                timed[what].append(time.perf_counter() - t)
    return {"bootstrap_seconds": bootstrap, "pages": pages} | {f"p99 {k} (ms)": p99(v) for k, v in timed.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--real", type=int, default=5_000)
    args = parser.parse_args()
    rules_dir = Path(tempfile.mkdtemp())
    for name in ("access.yaml", "upsell.yaml"):
        shutil.copy(harness.ROOT / "rules" / name, rules_dir)
    dodo = harness.free_port()
    emulator = [sys.executable, "-m", "emulator", "--port", str(dodo), "--webhook-url", "http://127.0.0.1:9/"]
    with (
        harness.valkey() as url,
        harness.process([*emulator, "--secret", harness.SECRET], dict(os.environ), f"http://127.0.0.1:{dodo}/"),
    ):
        os.environ.update(
            harness.env(url, rules_dir)
            | {"UPSELL_CONSOLE_TOKENS": "console_bench_token_0123456789"}
            | {"DODO_PAYMENTS_BASE_URL": f"http://127.0.0.1:{dodo}", "DODO_PAYMENTS_API_KEY": "bench_key"}
        )
        client = redis.Redis.from_url(url)
        loaded = load_real(client, args.real)
        families, forever = weigh(client)
        total = sum(families.values())
        print(f"{args.real:,} customers through the worker's path in {loaded:.1f} s ({args.real / loaded:,.0f}/s)")
        print("Redis bytes per customer, by family (MEMORY USAGE of every key):")
        for family, size in sorted(families.items(), key=lambda item: -item[1]):
            kept = ", ".join(sorted(forever.get(family, set()))[:4])
            print(f"  {family:10} {size / args.real:9,.0f}   no expiry: {kept or '-'}")
        print(
            f"  {'total':10} {total / args.real:9,.0f}   (used_memory: {int(client.info('memory')['used_memory']) / args.real:,.0f})"
        )
        grown = grow(client, args.real, args.customers)
        print(
            f"grown to {args.customers:,} customers (access, timeline, offer index copied) in {grown:.1f} s;"
            f" used_memory {int(client.info('memory')['used_memory']) / 2**20:,.0f} MiB"
        )
        for name, value in reads(args.customers, args.real).items():
            print(f"  {name}: {value:,.2f}")


if __name__ == "__main__":
    main()
