"""Rules that feed themselves (issue: hardening): a cycle is refused at load (tests/test_rules_check.py);
an acyclic chain of offers stops at the causation depth bound, counted; answers listing offers are paged;
a counter no report can read is skipped and counted, never a failed report."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import redis

from tests.conftest import Stack, drained, read_events, wait_until
from tests.test_offers import ADDON, CUSTOMER, deliver, purchase, start
from worker import keys
from worker.queue import deadletters
from worker.rules import graph
from worker.stats import counters


def chain(length: int) -> list[str]:
    """r0 on the purchase, each r<n> on r<n-1>'s offer.created: acyclic, so it loads."""
    rules = [f"  - id: r0\n    on: payment.succeeded\n    offer: {{type: cross_sell, product: {ADDON}}}\n"]
    for n in range(1, length):
        rules.append(
            f"  - id: r{n}\n    on: offer.created\n    when: {{offer_rule: r{n - 1}}}\n"
            f"    offer: {{type: cross_sell, product: {ADDON}}}\n"
        )
    return rules


def test_a_chain_of_offers_stops_at_the_depth_bound_and_says_so(stack: Stack, client: redis.Redis) -> None:
    start(stack, *chain(graph.MAX_DEPTH + 3))
    deliver(stack, client, purchase())
    wait_until(lambda: any("too_deep" in f for f in client.hkeys(keys.stats(counters.day()))), what="the chain's end")
    drained(client, within=0)
    made = [e["data"] for e in read_events(client) if e["type"] == "offer.created"]
    assert sorted(o["causation_depth"] for o in made) == list(range(graph.MAX_DEPTH + 1))
    assert {o["rule_id"] for o in made} == {f"r{n}" for n in range(graph.MAX_DEPTH + 1)}
    stats = stack.api("GET", "/api/stats").json()
    too_deep = {r["rule_id"]: r["variants"][0]["too_deep"] for r in stats["rules"]}
    assert too_deep[f"r{graph.MAX_DEPTH + 1}"] == 1
    assert "offer_chain_too_deep" in stack.procs[1].output()

    first = stack.api("GET", f"/api/customers/{CUSTOMER}/offers", params={"limit": 3}).json()
    assert len(first["offers"]) == 3 and first["next_cursor"] is not None
    depths = [o["causation_depth"] for o in first["offers"]]
    assert depths == [0, 1, 2]  # oldest first
    rest = stack.api("GET", f"/api/customers/{CUSTOMER}/offers", params={"cursor": first["next_cursor"]}).json()
    assert rest["next_cursor"] is None
    assert {o["offer_id"] for o in first["offers"] + rest["offers"]} == {o["offer_id"] for o in made}
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "-1"}):
        assert stack.api("GET", f"/api/customers/{CUSTOMER}/offers", params=bad).status_code == 400


def test_counters_no_report_can_read_are_skipped_and_counted(stack: Stack, client: redis.Redis) -> None:
    start(stack, *chain(1))
    day = keys.stats(counters.day())
    sep = counters.SEP
    client.hset(
        day, mapping={f"ok{sep}v{sep}created": 2, f"bad{sep}x{sep}y{sep}created": 1, f"r{sep}v{sep}created": "x"}
    )
    client.hset(day, f"r{sep}v{sep}revenue:usd", 5)
    answer = stack.api("GET", "/api/stats")
    assert answer.status_code == 200, answer.text
    assert answer.json()["unreadable_fields"] == 3
    assert [r["rule_id"] for r in answer.json()["rules"]] == ["ok"]
    printed = subprocess.run(
        [sys.executable, "-m", "worker", "stats"], env=stack.env(), capture_output=True, text=True, timeout=60
    )
    assert printed.returncode == 0, printed.stderr
    assert "3 stored counter(s) could not be read" in printed.stdout


def test_a_number_past_63_bits_is_dead_lettered_with_its_field_before_any_script(
    stack: Stack, client: redis.Redis
) -> None:
    start(stack, *chain(1))
    for n, huge in enumerate(("1" + "0" * 30, "1e30", "-9223372036854775809")):
        payload = purchase(customer=f"cus_huge_{n}")
        body = json.dumps(payload).replace(
            f'"total_amount": {payload["data"]["total_amount"]}', f'"total_amount": {huge}'
        )
        assert stack.post(body.encode()).json()["status"] == "queued"
    records = wait_until(lambda: (found := deadletters.all_records(client)) and len(found) == 3 and found, what="dead")
    for record in records:
        assert "data.total_amount" in record["error"], record["error"]  # named, never its value
    drained(client, within=0)
    assert read_events(client) == [], "nothing applied, nothing emitted"
    assert client.hlen(keys.stats(counters.day())) == 0


def seed_offers(client: redis.Redis, customer_id: str, count: int, product: str | None = None) -> None:
    """`count` pending offers for one customer, stored as the worker stores them (newest last)."""
    from datetime import UTC, datetime

    from worker.offers import store
    from worker.offers.model import Offer

    for n in range(count):
        offer = Offer(
            offer_id=f"off_{customer_id}_{n:04d}",
            rule_id="r",
            variant="default",
            customer_id=customer_id,
            type="one_click",
            product_id=product or f"pdt_seeded_{n}",
            quantity=1,
            created_at=datetime.now(UTC).isoformat(),
            source=f"wh_{customer_id}_{n}",
            trigger="payment.succeeded",
        )
        assert store.create(client, "test:stream", offer, once=False, cooldown=False) == "created"


def test_a_customer_with_thousands_of_offers_gets_small_answers(stack: Stack, client: redis.Redis) -> None:
    """The API pages and the console shows the newest 50, however many offers a customer has."""
    from receiver.console import views
    from worker.book import LiveBook

    stack.emulator()
    stack.web()
    seed_offers(client, "cus_many", 300, ADDON)
    answer = stack.api("GET", "/api/customers/cus_many/offers", params={"limit": 100})
    assert len(answer.content) < 200_000 and len(answer.json()["offers"]) == 100
    assert answer.json()["offers"][0]["offer_id"] == "off_cus_many_0000", "oldest first"
    assert len(stack.api("GET", "/api/customers/cus_many/offers").json()["offers"]) == 100, "100 by default"
    seen, cursor = 0, "0"
    while cursor is not None:
        page = stack.api("GET", "/api/customers/cus_many/offers", params={"limit": 100, "cursor": cursor}).json()
        seen, cursor = seen + len(page["offers"]), page["next_cursor"]
    assert seen == 300
    shown = views.customer(client, LiveBook(stack.rules_dir), "cus_many")
    assert len(shown["offers"]) == views.OFFERS_SHOWN and shown["more_offers"]


def test_a_page_of_offers_answers_in_seconds_while_dodo_stalls(stack: Stack, client: redis.Redis) -> None:
    """Each offer's display asks Dodo with a short timeout; a page asks for its offers side by side,
    so a stalled Dodo costs a page a few seconds, never a timeout per offer in turn."""
    stack.emulator()
    stack.web()
    seed_offers(client, "cus_stall", 20)
    stack.dodo_control("faults", {"method": "GET", "path": "/", "status": 503, "delay": 10, "times": 1000})
    started = time.monotonic()
    answer = stack.api("GET", "/api/customers/cus_stall/offers")
    assert answer.status_code == 200 and len(answer.json()["offers"]) == 20
    took = time.monotonic() - started
    assert took < 12, f"{took:.1f} s: 20 offers in turn would take 20 x 1.5 s or more"
