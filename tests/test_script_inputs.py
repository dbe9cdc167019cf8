"""Every Lua script checks all its inputs before its first write (scripts/_checks.lua): each bad
value is an error reply and no key changes, so no step is ever half applied. Each case's good call
writes, so the check, not the input's shape, is what keeps the bad calls from writing."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from worker import redis_scripts

NOW = str(time.time())
MSG = '{"queue_name":"q","actor_name":"a","args":[],"kwargs":{},"options":{},"message_id":"m","message_timestamp":1}'


def _lift_set_up(raw: redis.Redis) -> None:
    raw.hset("t:lift", mapping={"group": "exposed", "at": "0"})


# script: (keys, good args, set-up, {argument index: bad values})
CASES: dict[str, tuple[list[str], list[str], Any, dict[int, list[str]]]] = {
    "claim_due": (
        ["t:schedule", "t:jobs", "t:queue"],
        [NOW, "500"],
        lambda raw: (raw.zadd("t:schedule", {"j": 1}), raw.hset("t:jobs", "j", MSG)),
        {0: ["nan", "inf", "x", ""], 1: ["1e30", "1.5", "-", "9999999999999999999"]},
    ),
    "commit_access": (
        ["t:access", "t:done", "t:stream", "t:customers", "t:finished", "t:payment", "t:schedule", "t:jobs", "t:tl"],
        ["", "v", "60", "cus", "rec", "60", "1", "0", "", "job", NOW, MSG, "type", "x"],
        None,
        {2: ["1e30", "x"], 5: ["99999999999999999999", "1.5"], 6: ["-1", "x", "5"], 7: ["x", "3"], 10: ["nan", "x"]},
    ),
    "enqueue_once": (
        ["t:seen", "t:queue.msgs", "t:queue", "t:inbound"],
        ["m", "60", MSG, "1000", "webhook_id", "w"],
        None,
        {1: ["abc", "1e30", ""], 3: ["1e30", "x"]},
    ),
    "lift_payment": (
        ["t:lift", "t:lift-stats", "t:once", ""],
        ["100", "USD", NOW, "60"],
        _lift_set_up,
        {0: [str(10**30), "1.5", "x"], 1: ["usd", "US"], 2: ["nan", "x"], 3: ["x", "1e30"]},
    ),
    "lift_record": (
        ["t:lift", "t:lift-stats", "t:lift-rules", "t:stats", "r\x1fv\x1fheld_out"],
        ["held_out", NOW, "3600", "r", "100"],
        None,
        {0: ["both"], 1: ["inf", "x"], 2: ["1e30", "x"], 4: ["x", str(10**19)]},
    ),
    "guarded_exec": (
        ["t:guard"],
        ["!", "3", "set", "t:a", "1", "4", "hincrby", "t:h", "f", "5", "5", "set", "t:b", "1", "ex", "60"]
        + ["4", "zadd", "t:z", "1.5", "m", "3", "expire", "t:h", "60"],
        None,
        {9: [str(10**30), "1.5"], 15: ["x", "1e30"], 19: ["nan", "x"], 24: ["x"], 1: ["x", "99"]},
    ),
    "dispatch_events": (
        ["t:cursor", "t:queue", "t:list", "t:pending"],
        ["", "1-0", '{"event": {}}', "cus", "m", MSG],
        None,
        {5: []},  # only strings: a missing argument is the bad input (below)
    ),
    "finish_delivery": (
        ["t:list", "t:pending", "t:attempts", "t:queue", "t:dead"],
        ["item", "e|cus", "cus", "m", MSG, "", ""],
        lambda raw: raw.rpush("t:list", "item", "next"),
        {6: []},
    ),
}


def snapshot(raw: redis.Redis) -> dict[bytes, Any]:
    return {key: (raw.dump(key), raw.ttl(key)) for key in sorted(raw.keys("*"))}


def bad_calls(name: str) -> list[tuple[int, str | None]]:
    _, _, _, bad = CASES[name]
    calls: list[tuple[int, str | None]] = [(index, value) for index, values in bad.items() for value in values]
    return calls + [(len(CASES[name][1]) - 1, None)]  # the last argument missing


@pytest.mark.parametrize("name", CASES)
def test_a_script_refuses_each_bad_input_before_writing_anything(redis_url: str, name: str) -> None:
    raw = redis.Redis.from_url(redis_url)
    script_keys, good, set_up, _ = CASES[name]
    for index, value in bad_calls(name):
        raw.flushdb()
        if set_up:
            set_up(raw)
        before = snapshot(raw)
        args = good[:index] + ([value] if value is not None else []) + good[index + 1 :]
        with pytest.raises(redis.ResponseError, match="bad input"):
            redis_scripts.run(raw, name, script_keys, args)
        assert snapshot(raw) == before, f"{name}: argument {index} = {value!r} changed a key"
    raw.flushdb()
    if set_up:
        set_up(raw)
    before = snapshot(raw)
    redis_scripts.run(raw, name, script_keys, good)
    assert snapshot(raw) != before, f"{name}: the good call writes"
