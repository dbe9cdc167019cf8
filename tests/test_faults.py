"""Redis going away and a worker killed mid-load: nothing acknowledged is lost, nothing happens twice."""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from tests.conftest import HTTP, OwnRedis, Stack, fixture, read_events, wait_until
from worker import keys
from worker.queue import messages, schedule


def payment(n: int, customer: str) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("payment.succeeded"))
    payload["data"]["payment_id"] = f"pay_{n:06d}"
    payload["data"]["customer"]["customer_id"] = customer
    return payload


def test_redis_down_answers_503_and_the_retry_is_processed_once(own_redis: OwnRedis, own_stack: Stack) -> None:
    client, stack = own_redis.client(), own_stack
    assert stack.post(payment(1, "cus_a"), webhook_id="msg_before").json() == {"status": "queued"}
    wait_until(lambda: read_events(client), what="first event")
    own_redis.stop()

    response = stack.post(payment(2, "cus_a"), webhook_id="msg_during")
    assert response.status_code == 503
    assert HTTP.get(stack.base_url + "/readyz").status_code == 503
    assert HTTP.get(stack.base_url + "/healthz").status_code == 200

    own_redis.start()
    wait_until(lambda: HTTP.get(stack.base_url + "/readyz").status_code == 200, what="ready again")
    assert stack.post(payment(2, "cus_a"), webhook_id="msg_during").json() == {"status": "queued"}
    assert stack.post(payment(2, "cus_a"), webhook_id="msg_during").json() == {"status": "duplicate"}
    assert stack.post(payment(1, "cus_a"), webhook_id="msg_before").json() == {"status": "duplicate"}
    wait_until(lambda: len(read_events(client)) == 2, 60, what="second event after restart")
    events = read_events(client)
    assert [e["source"] for e in events] == ["msg_before", "msg_during"]
    assert [e["data"]["version"] for e in events] == [1, 2]


def test_worker_killed_mid_load_loses_and_repeats_nothing(stack: Stack, client: redis.Redis) -> None:
    stack.web()
    total = 600
    payloads = [(f"msg_load_{n}", payment(n, f"cus_{n % 25}")) for n in range(total)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda p: stack.post(p[1], webhook_id=p[0]).json()["status"], payloads))
    assert answers.count("queued") == total

    first = stack.worker(threads=8)
    wait_until(lambda: client.xlen("upsell:events") >= 50, what="some events processed")
    first.kill()
    done_at_kill = client.xlen("upsell:events")
    assert done_at_kill < total, "the kill must land mid-load"

    stack.worker(threads=8)
    wait_until(lambda: client.xlen("upsell:events") >= total, 120, what="every event processed after restart")
    events = read_events(client)
    assert Counter(e["source"] for e in events) == Counter(webhook_id for webhook_id, _ in payloads)
    assert len({e["id"] for e in events}) == total
    for customer in {e["customer_id"] for e in events}:
        versions = [e["data"]["version"] for e in events if e["customer_id"] == customer]
        assert versions == list(range(1, len(versions) + 1)), customer


def test_message_fetched_when_redis_went_away_is_still_processed(own_redis: OwnRedis, own_stack: Stack) -> None:
    """Redis ran Dramatiq's fetch but the reply was lost: the message sits in the live worker's acks
    set. Dramatiq would never requeue it (the worker still heartbeats); ours takes a new broker id
    when the consumer restarts, so the old id's leftovers are requeued."""
    client = own_redis.client()
    broker_id = wait_until(lambda: client.zrange(keys.queue("__heartbeats__"), 0, -1), what="worker heartbeat")[0]
    message = messages.webhook("payment.succeeded", "msg_stranded", json.dumps(payment(1, "cus_stranded")))
    client.hset(keys.queue_messages(keys.WEBHOOK_QUEUE), message.message_id, message.encode())
    client.sadd(f"{keys.queue('__acks__')}.{broker_id}.{keys.WEBHOOK_QUEUE}", message.message_id)
    own_redis.stop()
    time.sleep(2)
    own_redis.start()
    wait_until(lambda: read_events(client), 90, what="the stranded message's event")
    assert [e["source"] for e in read_events(client)] == ["msg_stranded"]


def test_jobs_falling_due_while_redis_restarts_run_once(own_redis: OwnRedis, own_stack: Stack) -> None:
    """Twenty revocations fall due while Redis goes away and comes back: each runs once."""
    client, stack = own_redis.client(), own_stack
    customers = [f"cus_job_{n}" for n in range(20)]
    due = time.time() + 4
    with client.pipeline() as pipe:
        for customer in customers:
            schedule.add(pipe, f"revoke:{customer}", due, "revoke_grant", customer, "k", repr(due), "expired", "t")
        pipe.execute()
    wait_until(lambda: time.time() > due - 1, 10)
    own_redis.stop()
    wait_until(lambda: time.time() > due + 1, 10, what="the moment to pass with Redis away")
    own_redis.start()
    wait_until(lambda: client.zcard(keys.SCHEDULE) == 0, 60, what="every job claimed")
    wait_until(lambda: all(c in stack.procs[-1].output() for c in customers), 60, what="every job run")
    ran = Counter(
        json.loads(line)["customer_id"]
        for line in stack.procs[-1].output().splitlines()
        if line.startswith("{") and '"revocation_skipped"' in line
    )
    assert ran == Counter(customers)
