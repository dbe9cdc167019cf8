"""Fault drills under load: Redis restarted, a worker killed, duplicate storms. Zero lost, zero twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from tests.conftest import HTTP, OwnRedis, Stack, read_events, wait_until
from tests.test_faults import payment

pytestmark = pytest.mark.slow


def assert_each_once(client: redis.Redis, webhook_ids: list[str], timeout: float = 120) -> None:
    wait_until(lambda: client.xlen("upsell:events") >= len(webhook_ids), timeout, what=f"{len(webhook_ids)} events")
    time.sleep(1)
    events = read_events(client)
    assert Counter(e["source"] for e in events) == Counter(webhook_ids), "every webhook's effect exactly once"


def post_all(stack: Stack, items: list[tuple[str, dict]], threads: int = 8) -> dict[str, int]:
    def one(item: tuple[str, dict]) -> tuple[str, int]:
        try:
            return item[0], stack.post(item[1], webhook_id=item[0]).status_code
        except httpx.HTTPError:
            return item[0], 0

    with ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(one, items))


def test_redis_restarted_during_load(own_redis: OwnRedis, own_stack: Stack) -> None:
    items = [(f"msg_drill_{n}", payment(n, f"cus_{n % 40}")) for n in range(600)]

    def restart() -> None:
        time.sleep(1.0)
        own_redis.stop()
        time.sleep(1.5)
        own_redis.start()

    bouncer = threading.Thread(target=restart)
    bouncer.start()
    statuses = post_all(own_stack, items)
    bouncer.join()
    refused = [webhook_id for webhook_id, status in statuses.items() if status != 200]
    assert refused and len(refused) < len(items), "the restart must land mid-load"
    assert set(statuses.values()) <= {200, 503, 0}
    wait_until(lambda: HTTP.get(own_stack.base_url + "/readyz").status_code == 200, what="ready")
    resent = post_all(own_stack, [item for item in items if item[0] in refused])  # as Dodo retries
    assert set(resent.values()) == {200}
    assert_each_once(own_redis.client(), [webhook_id for webhook_id, _ in items])


def test_worker_killed_and_duplicate_storm_during_load(stack: Stack, client: redis.Redis) -> None:
    stack.web()
    victim = stack.worker(threads=8)
    items = [(f"msg_storm_{n}", payment(n, f"cus_{n % 30}")) for n in range(400)]

    def kill_then_replace() -> None:
        wait_until(lambda: client.xlen("upsell:events") >= 40, what="load under way")
        victim.kill()
        stack.worker(threads=8)

    killer = threading.Thread(target=kill_then_replace)
    killer.start()
    statuses = post_all(stack, [item for item in items for _ in range(5)], threads=24)  # 5 copies each, side by side
    killer.join()
    assert set(statuses.values()) == {200}
    assert_each_once(client, [webhook_id for webhook_id, _ in items], timeout=150)
