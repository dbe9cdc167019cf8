"""Each Lua script in worker/scripts/, run directly against a real Valkey."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
import redis

from tests.conftest import STREAM
from worker import keys, redis_scripts
from worker.offers import store
from worker.offers.model import Offer
from worker.queue import messages, schedule


def enqueue(client: redis.Redis, webhook_id: str) -> int:
    message = messages.webhook("payment.succeeded", webhook_id, "{}")
    script_keys = [keys.seen(webhook_id), keys.queue_messages(keys.WEBHOOK_QUEUE), keys.queue(keys.WEBHOOK_QUEUE)]
    args = [messages.redis_id(message), keys.SEEN_TTL, message.encode(), 0]
    script_keys.append(keys.INBOUND)
    return int(redis_scripts.run(client, "enqueue_once", script_keys, args))


def test_enqueue_once_queues_a_decodable_message_once(client: redis.Redis) -> None:
    assert enqueue(client, "msg_a") == 1
    assert enqueue(client, "msg_a") == 0
    (message_id,) = client.lrange(keys.queue(keys.WEBHOOK_QUEUE), 0, -1)
    decoded = dramatiq.Message.decode(client.hget(keys.queue_messages(keys.WEBHOOK_QUEUE), message_id).encode())
    assert decoded.actor_name == "payment_succeeded" and decoded.args[0] == "msg_a"
    assert 0 < client.ttl(keys.seen("msg_a")) <= keys.SEEN_TTL


def test_enqueue_once_under_concurrency(client: redis.Redis) -> None:
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: enqueue(client, "msg_b"), range(64)))
    assert results.count(1) == 1 and client.llen(keys.queue(keys.WEBHOOK_QUEUE)) == 1


def commit(client: redis.Redis, read: str, new: str, *event: str, finish: str | None = None) -> object:
    script_keys = [keys.access("cus"), keys.access_applied("msg"), "test:stream", keys.CUSTOMERS, finish or "", ""]
    script_keys += [keys.SCHEDULE, keys.JOBS, keys.timeline("cus")]
    line = '{"what": "access.granted"}' if event else ""
    return redis_scripts.run(client, "commit_access", script_keys, [read, new, 60, "cus", "", 0, 0, 0, line, *event])


def test_commit_access_compare_and_set(client: redis.Redis) -> None:
    client.set(keys.access("cus"), "v1")
    assert commit(client, "v0", "v2", "type", "x") == [0, "v1"]  # a stale state: nothing written, the real one back
    assert client.get(keys.access("cus")) == "v1" and client.xlen("test:stream") == 0
    assert commit(client, "v1", "v2", "type", "x", finish="test:finished") == 1
    assert client.get(keys.access("cus")) == "v2" and client.xlen("test:stream") == 1
    assert client.exists("test:finished") and client.exists(keys.access_applied("msg"))
    assert client.zrange(keys.CUSTOMERS, 0, -1) == ["cus"], "indexed for paging"
    assert commit(client, "v2", "v3", "type", "y") == [-1, "v2"]  # this webhook was applied already
    assert client.get(keys.access("cus")) == "v2" and client.xlen("test:stream") == 1


def test_commit_access_without_event_writes_no_entry(client: redis.Redis) -> None:
    assert commit(client, "", "v1") == 1
    assert client.xlen("test:stream") == 0 and client.get(keys.access("cus")) == "v1"


def test_a_commit_with_no_event_still_puts_the_webhook_on_the_timeline(client: redis.Redis) -> None:
    """The webhook's own line rides on the commit that marks it processed: no extra round trip."""
    script_keys = [keys.access("cus"), keys.access_applied("msg"), "test:stream", keys.CUSTOMERS, "test:done", ""]
    script_keys += [keys.SCHEDULE, keys.JOBS, keys.timeline("cus")]
    args = ["", "v1", 60, "cus", "", 0, 0, 0, '{"what": "payment.failed"}']
    assert redis_scripts.run(client, "commit_access", script_keys, args) == 1
    assert client.xlen("test:stream") == 0 and client.get("test:done") == "1"
    assert client.lrange(keys.timeline("cus"), 0, -1) == ['{"what": "payment.failed"}']


def test_claim_due_moves_only_due_jobs_once(client: redis.Redis) -> None:
    now = time.time()
    with client.pipeline() as pipe:
        schedule.add(pipe, "job:due", now - 1, "expire_offer", "off_1")
        schedule.add(pipe, "job:later", now + 3600, "expire_offer", "off_2")
        schedule.add(pipe, "job:due", now + 99, "expire_offer", "off_other")  # same id: the first stays
        pipe.execute()
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(lambda _: schedule.claim_due(client, now), range(8)))
    assert sum(claimed) == 1
    assert client.lrange(keys.queue(keys.INTERNAL_QUEUE), 0, -1) == ["job:due"]
    body = client.hget(keys.queue_messages(keys.INTERNAL_QUEUE), "job:due")
    assert dramatiq.Message.decode(body.encode()).args == ("off_1",)
    assert client.zrange(keys.SCHEDULE, 0, -1) == ["job:later"] and client.hkeys(keys.JOBS) == ["job:later"]


def test_a_wrong_guess_of_the_state_costs_a_round_trip_never_an_update(client: redis.Redis) -> None:
    """`grants.apply` commits against the state this process last wrote; when another process wrote
    since, the script refuses and answers with the real state, which is merged again."""
    from pathlib import Path

    from worker.access import config, grants

    access = config.load(Path(__file__).resolve().parents[1] / "rules" / "access.yaml")
    moment = datetime(2026, 11, 1, tzinfo=UTC)

    def grant(webhook_id: str, product: str, minutes: int) -> grants.Update:
        change = grants.Change(f"pay_{webhook_id}/{product}", "grant", f"pay_{webhook_id}", product)
        return grants.Update(
            webhook_id, "cus_guess", moment + timedelta(minutes=minutes), "access.granted", "t", [change]
        )

    grants.apply(client, "test:stream", access, grant("w1", "pdt_e9mUw084cWnu0tz", 1))
    stale = client.get(keys.access("cus_guess"))
    grants.apply(client, "test:stream", access, grant("w2", "pdt_ADDON0priority7Kq", 2))
    grants._last_written["cus_guess"] = stale  # as if another process had written w2
    event, state, _ = grants.apply(client, "test:stream", access, grant("w3", "pdt_RUST4raxbl0Rfe4VQi1z", 3))
    assert state.version == 3 and len(state.grants) == 3, "w2's grant survived the wrong guess"
    assert event is not None and json.loads(event["data"])["version"] == 3
    assert grants.read(client, access, "cus_guess") == state
    assert [json.loads(e[1]["data"])["version"] for e in client.xrange("test:stream")] == [1, 2, 3]
    grants._last_written.clear()  # a process that knows nothing: the first commit learns the state
    assert grants.apply(client, "test:stream", access, grant("w3", "pdt_RUST4raxbl0Rfe4VQi1z", 3))[0] is None


def test_commit_access_writes_a_payments_index_record_whatever_it_finds(client: redis.Redis) -> None:
    client.set(keys.access("cus"), "v1")
    script_keys = [keys.access("cus"), keys.access_applied("msg"), "test:stream", keys.CUSTOMERS, "", "test:index"]
    script_keys += [keys.SCHEDULE, keys.JOBS, keys.timeline("cus")]
    stale = redis_scripts.run(client, "commit_access", script_keys, ["v0", "v2", 60, "cus", "record", 90, 0, 0, ""])
    assert stale == [0, "v1"] and client.get("test:index") == "record" and 0 < client.ttl("test:index") <= 90
    assert client.get(keys.access("cus")) == "v1"


def commit_on_own_connection(client: redis.Redis, read: str, new: str, webhook_id: str) -> object:
    script_keys = [keys.access("cus"), keys.access_applied(webhook_id), "test:stream", keys.CUSTOMERS, "", ""]
    script_keys += [keys.SCHEDULE, keys.JOBS, keys.timeline("cus")]
    args = [read, new, 60, "cus", "", 0, 0, 0, "", "type", webhook_id]
    return redis_scripts.run_on_own_connection(client, "commit_access", script_keys, args)


def test_the_commits_own_connection_reloads_lost_scripts_and_reconnects_when_cut(client: redis.Redis) -> None:
    """The worker's commit skips redis-py's pool; it must still survive what the pool survives."""
    assert commit_on_own_connection(client, "", "v1", "msg_1") == 1
    client.script_flush()  # a restarted server without its script cache: NOSCRIPT
    assert commit_on_own_connection(client, "v1", "v2", "msg_2") == 1
    assert client.client_kill_filter(_type="normal", skipme=True) >= 1  # the server cut the connection
    assert commit_on_own_connection(client, "v2", "v3", "msg_3") == 1
    assert commit_on_own_connection(client, "v3", "v4", "msg_3") == [-1, "v3"], "applied once"
    assert client.get(keys.access("cus")) == "v3" and client.xlen("test:stream") == 3


def test_a_commit_that_times_out_is_raised_at_once_not_resent(client: redis.Redis, redis_url: str) -> None:
    """One call blocks at most its socket timeout, well under the worker's 15 s heartbeat."""
    impatient = redis.Redis.from_url(redis_url, socket_timeout=0.5, decode_responses=True)
    assert commit_on_own_connection(impatient, "", "v1", "msg_1") == 1
    client.execute_command("CLIENT", "PAUSE", 3000, "WRITE")  # the server stops answering writes
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        commit_on_own_connection(impatient, "v1", "v2", "msg_2")
    assert time.monotonic() - started < 1.2, "sent again after a timeout"
    client.execute_command("CLIENT", "UNPAUSE")
    assert commit_on_own_connection(impatient, "v1", "v2", "msg_2") == 1, "the next call reconnects"


def test_claimed_jobs_are_stamped_with_their_claim_time_not_their_scheduling_time(client: redis.Redis) -> None:
    """Dramatiq's age limit counts from the message's timestamp: a job scheduled a year ahead must
    not look a year old when it falls due (it was dead-lettered as too old)."""
    with client.pipeline() as pipe:
        schedule.add(pipe, "job:year", time.time() + 365 * 86400, "expire_offer", "off_1")
        pipe.execute()
    claimed_at = time.time() + 365 * 86400 + 5
    assert schedule.claim_due(client, claimed_at) == 1
    body = client.hget(keys.queue_messages(keys.INTERNAL_QUEUE), "job:year")
    message = dramatiq.Message.decode(body.encode())
    assert message.message_timestamp == int(claimed_at * 1000) and message.args == ("off_1",)
    assert message.actor_name == "expire_offer" and message.message_id == "job:year"


def test_concurrent_end_time_changes_leave_exactly_the_jobs_the_grants_need(client: redis.Redis) -> None:
    """Cancels and re-activations of one subscription committed at once from many threads: every
    grant's end time has its revocation job, and no job is left for an end time no grant has (the
    jobs are added and removed in the commit itself, so no tidy-up deletes a job a concurrent
    update re-added)."""
    from pathlib import Path

    from worker.access import config, grants

    access = config.load(Path(__file__).resolve().parents[1] / "rules" / "access.yaml")
    base = datetime.now(UTC) - timedelta(hours=1)
    ends = [time.time() + 86400 * d for d in (1, 2, 3)]

    def update(n: int) -> grants.Update:
        sub = f"sub_{n % 2}"
        action = "end_at" if n % 3 else "grant"
        change = grants.Change(
            sub, action, sub, "pdt_RUST4raxbl0Rfe4VQi1z", ends[n % 3] if action == "end_at" else None
        )
        return grants.Update(f"w{n}", "cus_race", base + timedelta(seconds=n), "access.changed", "cancelled", [change])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: grants.apply(client, "test:stream", access, update(n)), range(120)))
    state = grants.read(client, access, "cus_race")
    wanted = {grants.job_id("cus_race", k, g.ends_at) for k, g in state.grants.items() if g.ends_at is not None}
    assert wanted, "the last updates leave end times"
    assert set(client.zrange(keys.SCHEDULE, 0, -1)) == wanted
    assert set(client.hkeys(keys.JOBS)) == wanted


def test_every_enqueue_path_leaves_a_wake_up_token(client: redis.Redis) -> None:
    """A worker waiting on the wake-up list is woken by the receiver's script, our transactions and
    the schedule's claim alike (queue/wake.py); without a token it would sleep out its back-off."""
    from worker.queue import wake

    enqueue(client, "msg_wake")
    assert client.llen(wake.key(keys.queue(keys.WEBHOOK_QUEUE))) == 1
    with client.pipeline() as pipe:
        messages.push(pipe, messages.internal("expire_offer", "off_w"))
        schedule.add(pipe, "job:wake", time.time() - 1, "expire_offer", "off_w2")
        pipe.execute()
    assert client.llen(wake.key(keys.queue(keys.INTERNAL_QUEUE))) == 1
    assert schedule.claim_due(client) == 1
    assert client.llen(wake.key(keys.queue(keys.INTERNAL_QUEUE))) == 2


def _offer(offer_id: str, **extra: object) -> Offer:
    fields = dict(offer_id=offer_id, rule_id="r", variant="v", customer_id="cus_g", type="one_click")
    fields |= dict(product_id="pdt_x", quantity=1, created_at="2026-11-30T00:00:00Z", source="msg_g", trigger="t")
    return Offer.model_validate(fields | extra)


def test_guarded_offer_writes_hold_under_concurrency(client: redis.Redis) -> None:
    """guarded_exec.lua: of many racing creates under once_per_customer one wins, of many racing
    accepts one moves the offer, and a refused guard writes nothing."""
    with ThreadPoolExecutor(20) as pool:
        made = list(
            pool.map(lambda n: store.create(client, STREAM, _offer(f"off_{n}"), once=True, cooldown=True), range(20))
        )
    assert sorted(made) == ["created"] + ["once_per_customer"] * 19
    (winner,) = client.zrange(keys.customer_offers("cus_g"), 0, -1)
    assert store.create(client, STREAM, _offer(winner), once=False, cooldown=False) == "exists"
    entries = client.xlen(STREAM)

    def accept(_: int) -> bool:
        return store.transition(
            client,
            STREAM,
            winner,
            "charging",
            event_type="offer.accepted",
            also=lambda pipe, offer: pipe.incr("charges"),
        )[0]

    with ThreadPoolExecutor(20) as pool:
        moved = list(pool.map(accept, range(20)))
    assert moved.count(True) == 1 and client.get("charges") == "1"
    assert client.xlen(STREAM) == entries + 1, "one offer.accepted, no event from a refused guard"
