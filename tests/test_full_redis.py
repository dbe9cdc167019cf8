"""A Redis that reaches `maxmemory` (noeviction) loses nothing: mid-load, webhooks are answered 503
with nothing partial stored, app events and accept answer 503 (`redis_full`), /readyz and the
receiver's metric say Redis is full; once the limit is raised the receiver and the worker go on by
themselves, and every acknowledged webhook (and every one Dodo retried) is applied exactly once.
A worker on a Redis whose policy may evict warns at start-up."""

from __future__ import annotations

from collections import Counter

import redis
import structlog

from tests.conftest import HTTP, TOKEN, OwnRedis, Stack, read_events, wait_until
from tests.test_charges import purchase
from worker import fullness


def test_a_full_redis_refuses_whole_and_nothing_acknowledged_is_lost(own_redis: OwnRedis, own_stack: Stack) -> None:
    client = own_redis.client()
    customers = [f"cus_full_{n:03d}" for n in range(60)]
    answers: dict[str, int] = {}
    for n, customer in enumerate(customers):
        if n == 20:  # mid-load: the limit is what Redis holds now, so the next write is refused
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory", used - 512 * 1024)  # below what it holds: full until raised
        answers[customer] = own_stack.post(purchase(customer), webhook_id=f"msg_full_{customer}").status_code
    refused = [c for c, status in answers.items() if status == 503]
    assert refused and all(status in (200, 503) for status in answers.values()), answers
    assert all(answers[c] == 200 for c in customers[:20]), "before the limit: all taken"
    assert not client.exists(f"upsell:seen:msg_full_{refused[0]}"), "a refused webhook left nothing behind"

    ready = HTTP.get(own_stack.base_url + "/readyz", timeout=5)
    assert (ready.status_code, ready.json()["status"]) == (503, "redis full")
    assert "upsell_redis_full 1.0" in HTTP.get(own_stack.base_url + "/metrics", timeout=5).text
    headers = {"authorization": f"Bearer {TOKEN}", "idempotency-key": "full-1"}
    event = HTTP.post(
        own_stack.base_url + "/api/customers/cus_full_000/events",
        json={"type": "app.anything", "data": {}},
        headers=headers,
        timeout=10,
    )
    assert event.status_code == 503 and event.json()["code"] == "redis_full"

    client.config_set("maxmemory", 0)  # memory freed: both go on by themselves
    wait_until(lambda: HTTP.get(own_stack.base_url + "/readyz", timeout=5).status_code == 200, 20, what="ready again")
    for customer in refused:  # Dodo retries what it was refused, with the same webhook-id
        assert own_stack.post(purchase(customer), webhook_id=f"msg_full_{customer}").status_code == 200
    assert "upsell_redis_full 0.0" in HTTP.get(own_stack.base_url + "/metrics", timeout=5).text

    def granted() -> Counter[str]:
        return Counter(e["customer_id"] for e in read_events(client) if e["type"] == "access.granted")

    wait_until(lambda: set(granted()) == set(customers), 90, what="every webhook applied")
    assert set(granted().values()) == {1}, "each exactly once"


def test_a_worker_warns_when_redis_may_evict(own_redis: OwnRedis) -> None:
    client = own_redis.client()
    assert fullness.warn_unless_noeviction(client, "worker") == "noeviction"
    client.config_set("maxmemory-policy", "allkeys-lru")
    with structlog.testing.capture_logs() as logs:
        assert fullness.warn_unless_noeviction(client, "worker") == "allkeys-lru"
    (warning,) = [line for line in logs if line["event"] == "redis_eviction_policy"]
    assert "noeviction" in warning["hint"]
    assert fullness.is_full(redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."))
    assert fullness.is_full(redis.ResponseError("Error in script: OOM command not allowed when used memory"))
    assert not fullness.is_full(redis.ConnectionError("refused"))
