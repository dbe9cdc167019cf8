"""Promises the docs make that no other test held to (each fails when its promise is broken)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis
from starlette.responses import Response

from receiver import refusals, waiting
from receiver.console import session
from receiver.dodolane import DodoBusy
from tests.conftest import ROOT, Stack
from worker import book, config, keys, strictjson
from worker.folder import yamlsource

BASE = {"REDIS_URL": "redis://127.0.0.1:1", "DODO_PAYMENTS_WEBHOOK_KEY": "whsec_" + "QUJD" * 8}


def test_the_default_delivery_backoff_is_the_documented_one() -> None:
    settings = config.load(BASE)
    assert settings.delivery_backoff == (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)
    assert "5 s, 30 s, 2 m, 10 m, 30 m, 1 h, 3 h, 6 h, 12 h and 24 h" in (ROOT / "docs" / "consumers.md").read_text()


def test_the_ack_timeout_is_capped_at_10_seconds() -> None:
    assert config.load(BASE | {"UPSELL_ACK_TIMEOUT": "10s"}).ack_timeout_ms == 10_000
    for too_long in ("11s", "10001ms"):
        with pytest.raises(config.ConfigError, match="at most 10s"):
            config.load(BASE | {"UPSELL_ACK_TIMEOUT": too_long})


def test_json_is_read_64_levels_deep_and_refused_at_65() -> None:
    def nested(levels: int) -> str:
        return "[" * levels + "]" * levels

    assert strictjson.loads(nested(strictjson.MAX_DEPTH)) == json.loads(nested(strictjson.MAX_DEPTH))
    with pytest.raises(strictjson.NotStrict, match="deeper than 64"):
        strictjson.loads(nested(strictjson.MAX_DEPTH + 1))


def test_a_rule_folder_over_2_mib_in_all_is_refused(tmp_path: Path) -> None:
    (tmp_path / "access.yaml").write_text((ROOT / "rules" / "access.yaml").read_text())
    filler = "# " + "x" * 1000 + "\n"
    per_file = filler * ((yamlsource.MAX_FILE_BYTES - 1024) // len(filler))
    for n in range(yamlsource.MAX_TOTAL_BYTES // len(per_file) + 1):
        (tmp_path / f"r{n}.yaml").write_text("rules: []\n" + per_file)
    with pytest.raises(yamlsource.ProblemsFound, match="files total over 2048 KiB"):
        book.load_dir(tmp_path)
    (tmp_path / "r0.yaml").unlink()
    for extra in sorted(tmp_path.glob("r*.yaml"))[: len(list(tmp_path.glob("r*.yaml"))) // 2]:
        extra.unlink()
    assert book.load_dir(tmp_path).rules == [], "under the total it loads"


def test_waiters_are_capped_at_1000() -> None:
    async def main() -> None:
        waiters = waiting.Waiters()
        assert waiters.limit == 1000
        gate = asyncio.Event()

        async def look() -> bool:
            return gate.is_set()

        async def wait() -> bool:
            return await waiters.until(30, look, lambda found: found)

        tasks = [asyncio.create_task(wait()) for _ in range(1000)]
        while waiters.count < 1000:
            await asyncio.sleep(0.01)
        with pytest.raises(waiting.TooManyWaiters):
            await wait()
        gate.set()
        assert all(await asyncio.gather(*tasks))

    asyncio.run(main())
    answer = refusals.answer(waiting.TooManyWaiters())
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"


def test_dodo_busy_is_503_with_retry_after_1() -> None:
    answer = refusals.answer(DodoBusy())
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert json.loads(answer.body)["code"] == "dodo_busy"


def test_a_console_session_lasts_8_hours(client: redis.Redis) -> None:
    sessions = session.Sessions(client, ("tok",))
    response = Response()
    assert sessions.sign_in("tok", response, secure=True)
    cookie = response.headers["set-cookie"]
    assert "Max-Age=28800" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    (key,) = client.keys(keys.console_session("*"))
    assert 28_790 <= client.ttl(key) <= 28_800


def test_the_access_page_takes_limits_1_to_1000(stack: Stack) -> None:
    stack.web()
    for limit, status in ((1, 200), (1000, 200), (1001, 400), (0, 400)):
        assert stack.api("GET", "/api/access", params={"limit": limit}).status_code == status, limit


def test_a_parse_error_names_fields_never_their_values() -> None:
    from tests.conftest import fixture
    from worker.queue.errors import PermanentError
    from worker.webhooks import parse

    broken = fixture("payment.succeeded")
    broken["data"]["total_amount"] = "forty two dollars"
    broken["data"]["customer"]["email"] = {"leaked": "jane.private@example.com"}
    broken["data"]["card_holder_name"] = ["Jane Q. Private"]
    with pytest.raises(PermanentError) as refused:
        parse.parse("payment.succeeded", json.dumps(broken))
    said = str(refused.value)
    assert "data.total_amount" in said and "data.customer.email" in said
    for value in ("forty two", "jane.private", "Jane Q. Private", "leaked"):
        assert value not in said, value


def test_the_actors_ride_out_a_redis_blip_and_say_so(tmp_path: Path) -> None:
    """The retry in place while Redis is briefly away (worker/actors.py): it logs each wait and gives
    up only after REDIS_WAIT_SECONDS."""
    import subprocess
    import sys

    script = """
import json, sys, redis
from worker import actors, logs
logs.configure()
calls = []
def flaky():
    calls.append(1)
    if len(calls) < 3:
        raise redis.ConnectionError("away")
actors._riding_out_redis_blips(flaky)
print(json.dumps({"calls": len(calls)}), flush=True)
actors.REDIS_WAIT_SECONDS = 0.6
def down():
    raise redis.ConnectionError("gone")
try:
    actors._riding_out_redis_blips(down)
except redis.ConnectionError:
    print(json.dumps({"gave_up": True}), flush=True)
"""
    env = {"PATH": "/usr/bin:/bin", **BASE, "UPSELL_WORKER_METRICS": "off"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert '{"calls": 3}' in done.stdout and '{"gave_up": true}' in done.stdout
    assert done.stderr.count('"redis_unavailable_retrying"') >= 3, done.stderr


def test_dead_letters_list_leaves_the_body_out(client: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    import dramatiq

    from worker.queue import deadletters

    body = json.dumps({"type": "payment.succeeded", "data": {"customer": {"email": "jane.body@example.com"}}})
    message = dramatiq.Message(
        queue_name=keys.WEBHOOK_QUEUE, actor_name="payment_succeeded", args=("wh_body", body), kwargs={}, options={}
    )
    deadletters.record(client, message, "PermanentError: test")
    cli = str(Path(sys.executable).parent / "dodo-upsell")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REDIS_URL": redis_url}
    done = subprocess.run([cli, "dead-letters", "list"], env=env, capture_output=True, text=True, timeout=60)
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["id"] == "wh_body" and "body" not in json.loads(line) and "args" not in json.loads(line)
    assert "jane.body" not in done.stdout + done.stderr


def test_the_log_bounds_are_the_documented_ones() -> None:
    from worker import logs

    assert (logs.MAX_FIELD_CHARS, logs.MAX_LINE_CHARS, logs.MAX_TRACEBACK_CHARS) == (512, 1024, 8192)
    text = (ROOT / "docs" / "operations.md").read_text()
    assert "longer than 512 characters" in text and "(a traceback 8,192)" in text and "within 1,024" in text
    exactly = {"event": "x", "field": "f" * 512}
    assert logs.capped(None, "info", dict(exactly)) == exactly, "512 characters are kept whole"
    one_more = logs.capped(None, "info", {"event": "x", "field": "f" * 513})
    assert one_more["field"] == "f" * 512 + "...[1 more chars]"
    listed = logs.capped(None, "info", {"event": "x", "ids": ["i" * 100] * 6})
    assert isinstance(listed["ids"], str) and listed["ids"].endswith("more chars]"), "a list's rendered size counts"
    many = logs.capped(None, "info", {"event": "x", **{f"f{n}": "v" * 300 for n in range(6)}})
    assert "line_cut" in many and all(len(many[f"f{n}"]) >= logs.CUT_FLOOR for n in range(6))
    assert len(json.dumps(many, separators=(",", ":"))) <= logs.MAX_LINE_CHARS  # as orjson renders it


def test_credit_balances_are_read_exactly_within_their_bounds() -> None:
    from worker.access import numbers

    read = {
        "100": 100,
        "-5": -5,
        "100.50": 100.5,
        "1.2340000": 1.234,
        "999999999999": 999_999_999_999,
        "0.001": 0.001,
    }
    for text, value in read.items():
        assert numbers.decimal(text) == value and type(numbers.decimal(text)) is type(value), text
    for text in ("1.2345", "1000000000000", "1e30", "1_000", " 7 ", "NaN", "", "-", ".5", "0x10", "+5"):
        assert numbers.decimal(text) is None, text
    assert numbers.MAX_FUTURE_SECONDS == 86_400


def test_the_newest_credit_entry_wins_and_a_name_alone_changes_only_the_name() -> None:
    from worker.access import numbers
    from worker.access.state import AccessState

    state = AccessState()
    numbers.apply(state, numbers.CreditEntry("cde", 700, None, at=10.0, entry="b"))
    numbers.apply(state, numbers.CreditEntry("cde", 900, None, at=5.0, entry="z"))  # older: ignored
    numbers.apply(state, numbers.CreditEntry("cde", 650, None, at=10.0, entry="a"))  # same time, lower id: ignored
    assert state.credits["cde"].balance == 700
    numbers.apply(state, numbers.CreditEntry("cde", 600, None, at=10.0, entry="c"))  # same time, higher id
    numbers.apply(state, numbers.CreditEntry("cde", None, "api_calls"))
    assert state.credits["cde"].view() == {"name": "api_calls", "balance": 600}
    numbers.apply(state, numbers.CreditEntry("other", None, None))
    assert "other" not in state.credits, "nothing to learn makes no entry"


def test_a_whole_number_past_63_bits_is_refused_at_the_boundary() -> None:
    from tests.conftest import fixture
    from worker.queue.errors import PermanentError
    from worker.webhooks import parse

    def amount(value: str) -> str:
        body = json.dumps(fixture("payment.succeeded"))
        old = f'"total_amount": {fixture("payment.succeeded")["data"]["total_amount"]}'
        return body.replace(old, f'"total_amount": {value}')

    for fits in (str(2**63 - 1), str(-(2**63) + 1)):
        assert parse.parse("payment.succeeded", amount(fits)).data.total_amount == int(fits)
    for past in (str(2**63), str(-(2**63)), str(10**30)):
        with pytest.raises(PermanentError, match=r"data\.total_amount is outside the 63-bit range"):
            parse.parse("payment.succeeded", amount(past))


def test_a_signature_carries_the_time_it_is_given() -> None:
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    from worker import signing

    secret, at = "whsec_" + "QUJD" * 8, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = signing.signed_headers(secret, "msg_t", b"{}", at)
    assert headers["webhook-timestamp"] == str(int(at.timestamp())) and headers["webhook-id"] == "msg_t"
    with pytest.raises(Exception, match="too old"):
        Webhook(secret).verify(b"{}", headers)  # a real verifier sees the old time
