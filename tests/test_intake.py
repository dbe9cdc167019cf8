"""The receiver's intake in-process against a real Redis: a webhook-id queued once with its archive
entry in the same step, a batch answered each by its own result, a Redis that lost its scripts
served again, and an answer held back when replicas do not confirm."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from tests.conftest import archived
from worker import keys, replication
from worker.queue.intake import Intake


def run(redis_url: str, work: Any) -> Any:
    async def main() -> Any:
        client = Redis.from_url(redis_url)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def queued(client: redis.Redis) -> list[dict[str, Any]]:
    messages = client.hgetall(keys.queue_messages(keys.WEBHOOK_QUEUE))
    return [json.loads(raw) for raw in messages.values()]


def test_a_webhook_id_is_queued_once_with_its_archive_entry(redis_url: str, client: redis.Redis) -> None:
    async def work(async_client: Redis) -> list[bool]:
        intake = Intake(async_client, archive_retention_seconds=3600)
        return [await intake.enqueue_once("payment.succeeded", "msg_1", '{"a": 1}') for _ in range(3)]

    assert run(redis_url, work) == [True, False, False]
    (message,) = queued(client)
    assert message["args"][0] == "msg_1" and message["queue_name"] == keys.WEBHOOK_QUEUE
    assert client.llen(keys.queue(keys.WEBHOOK_QUEUE)) == 1
    (entry,) = archived(client)
    assert entry == {"webhook_id": "msg_1", "type": "payment.succeeded", "body": '{"a": 1}'}
    (stored,) = redis.Redis.from_url(redis_url).xrange(keys.INBOUND)
    assert set(stored[1]) == {b"webhook_id", b"type", b"bodyz"}, "stored compressed"
    assert 0 < client.ttl(keys.seen("msg_1")) <= keys.SEEN_TTL


def test_without_retention_nothing_is_archived(redis_url: str, client: redis.Redis) -> None:
    async def work(async_client: Redis) -> bool:
        return await Intake(async_client).enqueue_once("payment.succeeded", "msg_2", "{}")

    assert run(redis_url, work) is True
    assert client.xlen(keys.INBOUND) == 0 and len(queued(client)) == 1


def test_a_batch_answers_each_request_by_its_own_result(redis_url: str, client: redis.Redis) -> None:
    async def work(async_client: Redis) -> list[bool]:
        intake = Intake(async_client)
        ids = [f"msg_b{n % 40}" for n in range(60)]  # 20 of them a second time, in the same batches
        return await asyncio.gather(*(intake.enqueue_once("payment.succeeded", i, "{}") for i in ids))

    answers = run(redis_url, work)
    assert answers[:40] == [True] * 40 and answers[40:] == [False] * 20
    assert len(queued(client)) == 40


def test_a_redis_that_lost_its_scripts_is_given_them_again(redis_url: str, client: redis.Redis) -> None:
    async def work(async_client: Redis) -> list[bool]:
        intake = Intake(async_client)
        first = await intake.enqueue_once("payment.succeeded", "msg_s1", "{}")
        await async_client.script_flush()
        return [first, await intake.enqueue_once("payment.succeeded", "msg_s2", "{}")]

    assert run(redis_url, work) == [True, True]
    assert len(queued(client)) == 2


def test_replicas_that_do_not_confirm_hold_the_answer_back(redis_url: str, client: redis.Redis) -> None:
    async def work(async_client: Redis) -> None:
        intake = Intake(async_client, ack=replication.Ack(replicas=1, timeout_ms=50))
        await intake.enqueue_once("payment.succeeded", "msg_r", "{}")

    with pytest.raises(replication.NotReplicated):
        run(redis_url, work)
    assert client.incr(keys.ACK_MARK) == 2, "the batch's own INCR went first"


def test_a_failed_round_trip_fails_every_request_in_it(redis_url: str) -> None:
    async def work(async_client: Redis) -> list[Any]:
        intake = Intake(async_client)
        await async_client.set(keys.queue_messages(keys.WEBHOOK_QUEUE), "not a hash")
        return await asyncio.gather(
            *(intake.enqueue_once("payment.succeeded", f"msg_f{n}", "{}") for n in range(3)), return_exceptions=True
        )

    answers = run(redis_url, work)
    assert all(isinstance(a, redis.ResponseError) for a in answers), answers
