"""The in-process provider Python apps use (dodo_upsell.openfeature) and its Starlette guard: checks
answered from the cache, refreshed by the event stream the moment access changes, the last known
state while Redis is stopped, the caller's default when nothing is known, and never an exception."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openfeature import api as openfeature
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dodo_upsell.guard import requires
from dodo_upsell.openfeature import UpsellProvider
from tests.conftest import TOKEN, OwnRedis, Stack, wait_until
from tests.test_charges import COURSE
from tests.test_ofrep import ACCESS, buy


@pytest.fixture
def provided(own_redis: OwnRedis, rules_dir: Path, tmp_path: Path) -> Iterator[tuple[Stack, UpsellProvider, OwnRedis]]:
    (rules_dir / "access.yaml").write_text(ACCESS)
    stack = Stack(own_redis.url, rules_dir, tmp_path)
    stack.web()
    stack.worker()
    provider = UpsellProvider(stack.base_url, TOKEN, stale_after=0.5)
    openfeature.set_provider(provider, domain="in-process")
    wait_until(lambda: provider.live, what="the provider's event stream")
    yield stack, provider, own_redis
    openfeature.clear_providers()
    stack.close()


def details(key: str, customer: str, default: Any = False) -> Any:
    flags = openfeature.get_client("in-process")
    context = EvaluationContext(targeting_key=customer)
    if isinstance(default, bool):
        return flags.get_boolean_details(key, default, context)
    return flags.get_string_details(key, default, context)


def test_checks_come_from_the_cache_and_follow_changes_at_once(provided: Any) -> None:
    stack, provider, own = provided
    client = own.client()
    first = details("course_rust", "cus_p1")
    assert (first.value, first.reason) == (False, Reason.DEFAULT)
    assert details("course_rust", "cus_p1").reason == Reason.CACHED, "the second check asks nobody"
    buy(stack, client, "cus_p1")
    changed = wait_until(lambda: (d := details("course_rust", "cus_p1")).value and d, what="the change followed")
    assert changed.flag_metadata["product_id"] == COURSE
    missing = details("no_such_flag", "cus_p1", True)
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    assert details("tier", "cus_p1", "none").value == "none"


def test_redis_stopped_the_last_known_state_answers_and_nothing_raises(provided: Any) -> None:
    stack, provider, own = provided
    buy(stack, own.client(), "cus_p2")
    assert wait_until(lambda: details("course_rust", "cus_p2").value, what="known") is True
    own.stop()
    held = details("course_rust", "cus_p2")
    assert held.value is True and held.reason in (Reason.CACHED, Reason.STALE), "the last known state"
    unknown = details("course_rust", "cus_never_asked", True)
    assert (unknown.value, unknown.reason, unknown.error_code) == (True, Reason.ERROR, ErrorCode.GENERAL)
    for proc in stack.procs:  # the receiver gone too: the stream ends, and answers say they are stale
        proc.terminate()
    wait_until(lambda: not provider.live, what="the stream to end")
    stale = wait_until(lambda: (d := details("course_rust", "cus_p2")).reason == Reason.STALE and d, what="stale")
    assert stale.value is True


def test_the_guard_answers_402_with_what_unlocks_it(provided: Any) -> None:
    stack, provider, own = provided

    async def lesson(request: Request) -> Response:
        return PlainTextResponse("the course")

    customer = {"id": "cus_p3"}
    guarded = requires("course_rust", lambda request: customer["id"], domain="in-process")(lesson)
    app = Starlette(routes=[Route("/lesson", guarded)])

    def get() -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
                return await http.get("/lesson")

        return asyncio.run(call())

    refused = get()
    assert refused.status_code == 402 and refused.json() == {
        "error": "course_rust is not in this customer's plan",
        "flag": "course_rust",
        "unlocked_by": [COURSE],
    }
    buy(stack, own.client(), "cus_p3")
    wait_until(lambda: get().status_code == 200, what="the guard to let them in")
