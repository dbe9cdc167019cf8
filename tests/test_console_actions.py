"""The console's sign-in and actions as an attacker or a careless operator meets them (no browser
needed): failures throttled and logged without the token, every answer unframeable under a strict
policy, every action's bad input a 4xx, and a corrected replay traced and archived."""

from __future__ import annotations

import json
import re

import dramatiq
import httpx
import pytest
import redis

from receiver.console import throttle
from tests.conftest import Stack, archived
from tests.test_offers import purchase
from worker import keys
from worker.queue import deadletters

TOKEN = "console_" + "s" * 24


@pytest.fixture
def console(stack: Stack) -> Stack:
    stack.extra_env["UPSELL_CONSOLE_TOKENS"] = TOKEN
    stack.web()
    return stack


def hardened(answer: httpx.Response) -> None:
    policy = answer.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, (answer.url, policy)
    assert answer.headers.get("x-frame-options") == "DENY", answer.url


def test_failed_sign_ins_are_logged_throttled_and_every_answer_unframeable(console: Stack) -> None:
    web = httpx.Client(base_url=console.base_url, follow_redirects=False)
    hardened(web.get("/console/login"))
    hardened(web.get("/console"))  # the redirect to sign in too
    for n in range(throttle.PER_ADDRESS):
        answer = web.post("/console/login", data={"token": f"guess-{n}-secretish"})
        assert answer.status_code == 401
        hardened(answer)
    refused = web.post("/console/login", data={"token": TOKEN})  # throttled before any comparison
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= throttle.WINDOW_SECONDS
    hardened(refused)
    log = console.procs[0].output()
    assert log.count('"console_sign_in_failed"') == throttle.PER_ADDRESS and "console_sign_in_throttled" in log
    assert "secretish" not in log and TOKEN not in log


def test_the_global_bound_slows_guesses_spread_over_addresses(client: redis.Redis) -> None:
    guard = throttle.Throttle(client)
    for n in range(throttle.GLOBAL):
        assert guard.wait(f"10.0.{n // 250}.{n % 250}") == 0
        guard.failed(f"10.0.{n // 250}.{n % 250}")
    assert guard.wait("192.0.2.1") > 0, "a fresh address waits too"


def signed_in(console: Stack) -> tuple[httpx.Client, str]:
    web = httpx.Client(base_url=console.base_url, follow_redirects=False)
    assert web.post("/console/login", data={"token": TOKEN}).status_code == 303
    page = web.get("/console/dead-letters").text
    return web, re.search(r'name="csrf" value="([^"]+)"', page)[1]  # type: ignore[index]


def dead_letter(client: redis.Redis, record_id: str, body: str) -> None:
    message = dramatiq.Message(
        queue_name=keys.WEBHOOK_QUEUE, actor_name="payment_succeeded", args=(record_id, body), kwargs={}, options={}
    )
    deadletters.record(client, message, "PermanentError: test")


def test_every_action_answers_bad_input_with_a_4xx(console: Stack, client: redis.Redis) -> None:
    web, csrf = signed_in(console)
    for path, form in [
        ("/console/dead-letters/nope/replay", {"csrf": csrf}),
        ("/console/dead-letters/nope/delete", {"csrf": csrf}),
        ("/console/dead-letters/%00%2F..%2F/delete", {"csrf": csrf}),
        ("/console/deliveries/replay", {"csrf": csrf}),
        ("/console/deliveries/replay", {"csrf": csrf, "id": "nope"}),
        ("/console/deliveries/replay", {"csrf": csrf, "id": "x" * 5000}),
        ("/console/deliveries/replay", {"csrf": csrf, "endpoint": "nope"}),
        ("/console/dead-letters/nope/replay", {}),
        ("/console/deliveries/replay", {"csrf": "forged", "id": "nope"}),
    ]:
        answer = web.post(path, data=form)
        assert 400 <= answer.status_code < 500, (path, form, answer.status_code)
        assert len(answer.text) < 400 and "Traceback" not in answer.text
        hardened(answer)


def test_a_corrected_replay_is_traced_archived_and_ids_with_slashes_work(console: Stack, client: redis.Redis) -> None:
    web, csrf = signed_in(console)
    original = purchase(customer="cus_orig")
    corrected = purchase(customer="cus_fixed")
    corrected["data"]["total_amount"] = 777
    dead_letter(client, "wh/with?odd#id", json.dumps(original))
    dead_letter(client, "wh/second", json.dumps(original))
    page = web.get("/console/dead-letters").text
    action = re.search(r'action="([^"]*wh/with[^"]*)/replay"', page)[1]  # type: ignore[index]
    files = {"body": ("fixed.json", json.dumps(corrected).encode(), "application/json")}
    answer = web.post(action + "/replay", data={"csrf": csrf}, files=files)
    assert answer.status_code == 303, answer.text
    assert client.hget(keys.DEAD_LETTERS, "wh/with?odd#id") is None
    (found,) = [fields for fields in archived(client) if fields.get("webhook_id") == "wh/with?odd#id"]
    assert json.loads(found["body"])["data"]["total_amount"] == 777 and found["corrects_sha256"]
    line = next(json.loads(li) for li in console.procs[0].output().splitlines() if "dead_letter_replayed" in li)
    assert line["corrected"] is True and len(line["by"]) == 16
    assert "data.total_amount" in line["fields_changed"] and "data.customer.customer_id" in line["fields_changed"]
    assert "cus_fixed" not in console.procs[0].output(), "hashes and paths, never values"
    second = re.search(r'action="([^"]*wh/second[^"]*)/delete"', page)[1]  # type: ignore[index]
    assert web.post(second + "/delete", data={"csrf": csrf}).status_code == 303
    assert client.hlen(keys.DEAD_LETTERS) == 0
