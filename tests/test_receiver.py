"""POST /webhooks/dodo: the six steps of docs/operations.md, each failure storing nothing."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis

from tests.conftest import HTTP, SECRET, TOKEN, Stack, drained, fixture, free_port, read_events, wait_until
from worker import keys
from worker.signing import signed_headers

OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()


def post_raw(stack: Stack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return HTTP.post(stack.base_url + "/webhooks/dodo", content=body, headers=headers, timeout=10)


def nothing_stored(client: redis.Redis) -> bool:
    return client.dbsize() == 0


@pytest.fixture
def web(stack: Stack) -> Stack:
    stack.web()
    return stack


def body_and_headers(**kw: object) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(fixture("subscription.active")).encode()
    return body, signed_headers(SECRET, "msg_sig_case", body, **kw)  # type: ignore[arg-type]


def _drop(name: str):
    def change(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return body, {k: v for k, v in headers.items() if k != name}

    return change


def _set(name: str, value: str):
    def change(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return body, {**headers, name: value}

    return change


def _wrong_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, signed_headers(OTHER_SECRET, headers["webhook-id"], body)


def _tampered(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"cus_8VbC6JDZzPEqfBPUdpj0K", b"cus_attacker000000000000"), headers


def _reserialised(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return json.dumps(json.loads(body), indent=2).encode(), headers


def _at(delta: timedelta):
    def change(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return body, signed_headers(SECRET, headers["webhook-id"], body, datetime.now(UTC) + delta)

    return change


def _v1a_only(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "webhook-signature": headers["webhook-signature"].replace("v1,", "v1a,")}


def _not_utf8(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return b"\xff\xfe" + body, headers


SIGNATURE_CASES = {
    "wrong secret": _wrong_secret,
    "tampered body": _tampered,
    "re-serialised JSON": _reserialised,
    "6 minutes old": _at(timedelta(minutes=-6)),
    "6 minutes ahead": _at(timedelta(minutes=6)),
    "no webhook-id": _drop("webhook-id"),
    "no webhook-timestamp": _drop("webhook-timestamp"),
    "no webhook-signature": _drop("webhook-signature"),
    "empty signature": _set("webhook-signature", ""),
    "entry without comma": _set("webhook-signature", "v1abcdef"),
    "double space": lambda b, h: (b, {**h, "webhook-signature": "v1,AAAA  " + h["webhook-signature"]}),
    "two commas": lambda b, h: (b, {**h, "webhook-signature": h["webhook-signature"] + ",x"}),
    "bad base64": _set("webhook-signature", "v1,***"),
    "v1a only": _v1a_only,
    "timestamp not a number": _set("webhook-timestamp", "soon"),
    "timestamp beyond any clock": _set("webhook-timestamp", "9" * 40),
    "negative timestamp": _set("webhook-timestamp", "-99999999999999"),
    "body not UTF-8": _not_utf8,
}


@pytest.mark.parametrize("case", SIGNATURE_CASES)
def test_bad_signature_is_401_and_stores_nothing(web: Stack, client: redis.Redis, case: str) -> None:
    body, headers = SIGNATURE_CASES[case](*body_and_headers())
    response = post_raw(web, body, headers)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    assert nothing_stored(client)


def test_rotation_two_signatures_one_valid_is_accepted(web: Stack, client: redis.Redis) -> None:
    body, headers = body_and_headers()
    old = signed_headers(OTHER_SECRET, headers["webhook-id"], body)["webhook-signature"]
    headers["webhook-signature"] = f"{old} {headers['webhook-signature']}"
    response = post_raw(web, body, headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "queued"}
    assert client.llen(keys.queue(keys.WEBHOOK_QUEUE)) == 1


def test_rotation_either_configured_secret_verifies(stack: Stack, client: redis.Redis) -> None:
    stack.extra_env["DODO_PAYMENTS_WEBHOOK_KEY"] = f"{OTHER_SECRET}, {SECRET}"
    stack.web()
    assert stack.post(fixture("subscription.active"), secret=SECRET).json() == {"status": "queued"}
    assert stack.post(fixture("subscription.active"), secret=OTHER_SECRET).json() == {"status": "queued"}
    assert client.llen(keys.queue(keys.WEBHOOK_QUEUE)) == 2


def test_unknown_type_is_ignored_with_200(web: Stack, client: redis.Redis) -> None:
    payload = {**fixture("payment.succeeded"), "type": "payout.success"}
    response = web.post(payload)
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    assert nothing_stored(client)


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"[1, 2]", b'{"type": 7}', b'{"data": {}}', b"", b"[" * 200_000 + b"]" * 200_000],
    ids=["text", "list", "type not string", "no type", "empty", "nested 200k deep"],
)
def test_verified_but_not_an_event_is_400(web: Stack, client: redis.Redis, body: bytes) -> None:
    response = post_raw(web, body, signed_headers(SECRET, "msg_400", body))
    assert response.status_code == 400
    assert "error" in response.json()
    assert nothing_stored(client)


def test_body_over_one_mib_is_413(web: Stack, client: redis.Redis) -> None:
    payload = fixture("payment.succeeded")
    payload["data"]["metadata"]["padding"] = "x" * (1024 * 1024)
    assert web.post(payload).status_code == 413
    # a chunked body without Content-Length is cut off too
    body = json.dumps(payload).encode()
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    response = HTTP.post(
        web.base_url + "/webhooks/dodo", content=chunks, headers=signed_headers(SECRET, "msg_big", body), timeout=10
    )
    assert response.status_code == 413
    assert nothing_stored(client)


def test_same_webhook_id_50_times_concurrently_queues_once(running: Stack, client: redis.Redis) -> None:
    payload = fixture("subscription.active")
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: running.post(payload, webhook_id="msg_storm").json()["status"], range(50)))
    assert answers.count("queued") == 1
    assert answers.count("duplicate") == 49
    wait_until(lambda: read_events(client), what="the access event")
    assert running.post(payload, webhook_id="msg_storm").json() == {"status": "duplicate"}
    drained(client)
    events = read_events(client)
    assert [e["type"] for e in events] == ["access.granted"]


def test_a_redis_that_lost_its_scripts_still_gets_every_webhook_once(web: Stack, client: redis.Redis) -> None:
    """A restarted Redis forgets loaded scripts: the batch is answered NOSCRIPT, the script is
    loaded, and the same batch runs again, each webhook still queued once and acknowledged after."""
    payload = fixture("subscription.active")
    assert web.post(payload, webhook_id="msg_before_flush").json() == {"status": "queued"}
    client.script_flush()
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda n: web.post(payload, webhook_id=f"msg_flush_{n % 10}").json(), range(20)))
    assert sorted(a["status"] for a in answers) == ["duplicate"] * 10 + ["queued"] * 10
    assert client.llen(keys.queue(keys.WEBHOOK_QUEUE)) == 11
    assert web.post(payload, webhook_id="msg_flush_3").json() == {"status": "duplicate"}


def test_a_redis_that_stops_answering_gets_503_in_time_and_no_reply_goes_astray(
    web: Stack, client: redis.Redis
) -> None:
    """Writes paused: the batch times out (503 within the 2 s limit); its late replies never answer
    later requests; and the paused webhook, run by Redis when the pause ends, is a duplicate when
    Dodo retries it: queued once, lost never."""
    payload = fixture("subscription.active")
    client.client_pause(4000, all=False)  # WRITE mode: the script waits inside Redis
    started = time.monotonic()
    assert web.post(payload, webhook_id="msg_paused").status_code == 503
    assert time.monotonic() - started < 3.5  # the 2 s batch limit, well before the pause ends
    wait_until(lambda: web.post(payload, webhook_id="msg_paused").json() == {"status": "duplicate"}, 10)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda n: web.post(payload, webhook_id=f"msg_after_{n % 8}").json(), range(16)))
    assert sorted(a["status"] for a in answers) == ["duplicate"] * 8 + ["queued"] * 8
    assert client.llen(keys.queue(keys.WEBHOOK_QUEUE)) == 9


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_other_methods_on_the_webhook_path_are_405_and_store_nothing(
    web: Stack, client: redis.Redis, method: str
) -> None:
    answer = HTTP.request(method, web.base_url + "/webhooks/dodo", content=b"{}", timeout=15)
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert nothing_stored(client)


def test_api_needs_a_valid_token(web: Stack) -> None:
    path = "/api/customers/cus_x/access"
    assert web.api("GET", path, token=None).status_code == 401
    assert web.api("GET", path, token="wrong").status_code == 401
    assert web.api("GET", path, token=TOKEN + "x").status_code == 401
    assert HTTP.get(web.base_url + path, headers={"authorization": f"Basic {TOKEN}"}).status_code == 401
    assert web.api("GET", path).status_code == 200


def test_api_without_configured_tokens_is_closed(stack: Stack) -> None:
    stack.extra_env["UPSELL_API_TOKENS"] = ""
    stack.web()
    assert stack.api("GET", "/api/customers/cus_x/access").status_code == 503


def test_health_ready_and_metrics(web: Stack) -> None:
    assert HTTP.get(web.base_url + "/healthz").status_code == 200
    assert HTTP.get(web.base_url + "/readyz").status_code == 200
    web.post(fixture("payment.failed"))
    metrics = HTTP.get(web.base_url + "/metrics").text
    assert 'upsell_webhooks_total{outcome="queued"} 1.0' in metrics


def test_a_live_key_without_its_environment_refuses_to_start(stack: Stack) -> None:
    """A live key must never charge in test mode (nor a test key in live mode): no default is assumed."""
    key = {"DODO_PAYMENTS_API_KEY": "sk_live_not_a_real_key_0123456789"}
    for command in (["web"],):
        done = subprocess.run(
            [sys.executable, "-m", "worker", *command],
            env={**stack.env(), **key},
            capture_output=True,
            text=True,
            timeout=30,
        )
        line = done.stderr.strip()
        assert done.returncode == 1 and len(line.splitlines()) == 1, done.stderr
        assert "DODO_PAYMENTS_ENVIRONMENT" in line and "live_mode" in line and "test_mode" in line
        assert "sk_live_not" not in line
    worker = subprocess.run(
        [sys.executable, "-m", "dramatiq", "worker.actors", "--processes", "1", "--threads", "1"],
        env={**stack.env(), **key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode != 0 and "DODO_PAYMENTS_ENVIRONMENT is not" in worker.stdout + worker.stderr
    stack.extra_env.update(key | {"DODO_PAYMENTS_ENVIRONMENT": "live_mode"})
    web = stack.web()
    wait_until(lambda: '"dodo": "live_mode"' in web.output() or '"dodo":"live_mode"' in web.output(), what="mode said")
    stack.extra_env.update(UPSELL_REQUEST_TIMEOUT="10s")  # the form its neighbours take
    stack.base_url = stack.base_url.rsplit(":", 1)[0] + f":{free_port()}"
    stack.web()


def test_start_up_lines_say_what_was_started(stack: Stack) -> None:
    web, worker = stack.web(), stack.worker()
    said = {}
    for proc, event in ((web, "web_listening"), (worker, "worker_ready")):
        found = wait_until(lambda p=proc, e=event: [li for li in p.output().splitlines() if f'"{e}"' in li], what=event)
        said[event] = json.loads(found[0])
    assert said["web_listening"]["rules"].startswith("ok: ") and "0 rules" in said["web_listening"]["rules"]
    assert said["web_listening"]["url"].startswith("http://127.0.0.1:") and said["web_listening"]["dodo"] == "test_mode"
    assert said["worker_ready"]["metrics"] == "off (UPSELL_WORKER_METRICS)" and "rules" in said["worker_ready"]


def test_metrics_need_the_token_when_one_is_set(stack: Stack) -> None:
    stack.extra_env["UPSELL_METRICS_TOKEN"] = "scrape-me"
    stack.web()
    assert HTTP.get(stack.base_url + "/metrics").status_code == 401
    assert HTTP.get(stack.base_url + "/metrics", headers={"authorization": "Bearer nope"}).status_code == 401
    answer = HTTP.get(stack.base_url + "/metrics", headers={"authorization": "Bearer scrape-me"})
    assert answer.status_code == 200 and "upsell_webhooks_total" in answer.text


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"DODO_PAYMENTS_WEBHOOK_KEY": ""}, "DODO_PAYMENTS_WEBHOOK_KEY"),
        ({"DODO_PAYMENTS_WEBHOOK_KEY": "secret123"}, "DODO_PAYMENTS_WEBHOOK_KEY"),
        ({"DODO_PAYMENTS_WEBHOOK_KEY": "whsec_c2hvcnQ="}, "DODO_PAYMENTS_WEBHOOK_KEY"),
        ({"DODO_PAYMENTS_ENVIRONMENT": "prod"}, "DODO_PAYMENTS_ENVIRONMENT"),
        ({"UPSELL_REQUEST_TIMEOUT": "soon"}, "UPSELL_REQUEST_TIMEOUT"),
        ({"UPSELL_REQUEST_TIMEOUT": "0s"}, "UPSELL_REQUEST_TIMEOUT"),
    ],
)
def test_bad_setting_stops_start_up_naming_the_variable(stack: Stack, env: dict[str, str], variable: str) -> None:
    full = {**stack.env(), **env}
    done = subprocess.run([sys.executable, "-m", "worker", "web"], env=full, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], done.stderr
    assert "whsec_c2hvcnQ" not in done.stderr
