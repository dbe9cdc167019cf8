"""Entitlements over OpenFeature's remote evaluation protocol, driven by OpenFeature's own Python SDK
and OFREP provider (nobody here wrote them) and by plain HTTP where the protocol's edges are the point:
flags from access.yaml, off values never errors, ETag and 304, credentials and CORS."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from openfeature import api as openfeature
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from tests.conftest import HTTP, TOKEN, Stack, drained, fixture, wait_until
from tests.test_charges import BASIC, COURSE, PRO

ACCESS = f"""tiers: [basic, pro]
limits: {{projects: highest}}
products:
  {BASIC}: {{tier: basic, features: [reports], limits: {{projects: 3}}}}
  {PRO}: {{tier: pro, features: [reports, api], limits: {{projects: 50}}}}
  {COURSE}: {{features: [course_rust]}}
"""
ORIGIN = "https://app.example.com"


@pytest.fixture
def flags(stack: Stack) -> Iterator[Stack]:
    (stack.rules_dir / "access.yaml").write_text(ACCESS)
    stack.extra_env["UPSELL_CLIENT_ORIGINS"] = f"{ORIGIN},http://localhost:3000"
    stack.web()
    stack.worker()
    yield stack
    openfeature.clear_providers()


def client_for(stack: Stack, name: str, headers: dict[str, str] | None = None) -> Any:
    provider = OFREPProvider(stack.base_url, headers_factory=lambda: headers or {"Authorization": f"Bearer {TOKEN}"})
    openfeature.set_provider(provider, domain=name)
    return openfeature.get_client(name)


def buy(stack: Stack, client: redis.Redis, customer: str, product: str = COURSE) -> None:
    body = copy.deepcopy(fixture("payment.succeeded"))
    body["data"].update(payment_id=f"pay_{time.monotonic_ns()}", subscription_id=None)
    body["data"]["product_cart"] = [{"product_id": product, "quantity": 1}]
    body["data"]["customer"]["customer_id"] = customer
    assert stack.post(body).json()["status"] == "queued"
    drained(client)


def subscribe(stack: Stack, client: redis.Redis, customer: str, kind: str = "active", product: str = BASIC) -> None:
    body = copy.deepcopy(fixture(f"subscription.{kind}"))
    body["data"].update(product_id=product, subscription_id=f"sub_{customer}")
    body["data"]["customer"]["customer_id"] = customer
    assert stack.post(body).json()["status"] == "queued"
    drained(client)


def test_the_published_python_provider_reads_entitlements(flags: Stack, client: redis.Redis) -> None:
    app = client_for(flags, "python")
    me = EvaluationContext(targeting_key="cus_of_1")
    before = app.get_boolean_details("course_rust", True, me)
    assert (before.value, before.reason, before.error_code) == (False, Reason.DEFAULT, None), "off, never an error"
    assert app.get_integer_value("limit.projects", 99, me) == 0
    assert app.get_string_value("tier", "none", me) == "none", "no tier: the caller's default"
    buy(flags, client, "cus_of_1")
    subscribe(flags, client, "cus_of_1")
    bought = app.get_boolean_details("course_rust", False, me)
    assert (bought.value, bought.reason) == (True, Reason.TARGETING_MATCH)
    assert bought.flag_metadata["product_id"] == COURSE and bought.flag_metadata["access_version"] >= 1
    assert app.get_string_value("tier", "none", me) == "basic"
    assert app.get_integer_value("limit.projects", 0, me) == 3
    assert app.get_boolean_value("reports", False, me) is True and app.get_boolean_value("api", True, me) is False
    missing = app.get_boolean_details("no_such_feature", True, me)
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    other = app.get_boolean_details("course_rust", False, EvaluationContext(targeting_key="cus_never_seen"))
    assert (other.value, other.reason, other.flag_metadata["customer_known"]) == (False, Reason.DEFAULT, False)


def test_a_revoked_grant_turns_the_flag_off(flags: Stack, client: redis.Redis) -> None:
    app = client_for(flags, "revoked")
    me = EvaluationContext(targeting_key="cus_of_2")
    subscribe(flags, client, "cus_of_2")
    assert app.get_boolean_value("reports", False, me) is True
    subscribe(flags, client, "cus_of_2", "expired")
    assert app.get_boolean_value("reports", True, me) is False
    assert app.get_string_value("tier", "none", me) == "none"


def bulk(stack: Stack, customer: str, **headers: str) -> Any:
    given = {"authorization": f"Bearer {TOKEN}"} | headers
    return HTTP.post(
        f"{stack.base_url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": customer}}, headers=given
    )


def test_bulk_answers_carry_an_etag_that_moves_exactly_with_access(flags: Stack, client: redis.Redis) -> None:
    first = bulk(flags, "cus_of_3")
    assert first.status_code == 200 and first.headers["etag"]
    keys = {f["key"] for f in first.json()["flags"]}
    assert keys == {"tier", "reports", "api", "course_rust", "limit.projects"}
    (stream,) = first.json()["eventStreams"]
    assert stream["type"] == "sse" and TOKEN not in stream["url"], "never the API token in a URL"
    assert bulk(flags, "cus_of_3", **{"if-none-match": first.headers["etag"]}).status_code == 304
    buy(flags, client, "cus_of_4")  # someone else's purchase changes nothing here
    assert bulk(flags, "cus_of_3", **{"if-none-match": first.headers["etag"]}).status_code == 304
    buy(flags, client, "cus_of_3")
    second = bulk(flags, "cus_of_3", **{"if-none-match": first.headers["etag"]})
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    assert {f["key"]: f.get("value") for f in second.json()["flags"]}["course_rust"] is True


def mint(stack: Stack, customer: str, **body: Any) -> Any:
    return stack.api("POST", f"/api/customers/{customer}/client-tokens", json=body)


def test_a_client_token_reads_its_own_customer_only(flags: Stack, client: redis.Redis) -> None:
    minted = mint(flags, "cus_of_5")
    assert minted.status_code == 200 and minted.json()["scopes"] == ["flags", "offers"]
    token = minted.json()["token"]
    mine = {"authorization": f"Bearer {token}"}
    assert bulk(flags, "cus_of_5", **mine).status_code == 200
    foreign = bulk(flags, "cus_of_6", **mine)
    assert foreign.status_code == 403 and foreign.json()["errorCode"] == "INVALID_CONTEXT"
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert bulk(flags, "cus_of_5", authorization=f"Bearer {forged}").status_code == 401
    offers_only = mint(flags, "cus_of_5", scopes=["offers"]).json()["token"]
    assert bulk(flags, "cus_of_5", authorization=f"Bearer {offers_only}").status_code == 403
    assert (
        mint(flags, "cus_of_5", ttl="25h").status_code == 400
        and mint(flags, "cus_of_5", scopes=["all"]).status_code == 400
    )
    assert HTTP.post(f"{flags.base_url}/api/customers/cus_of_5/client-tokens", headers=mine).status_code == 401
    provider = client_for(flags, "client-token", {"Authorization": f"Bearer {token}"})
    assert provider.get_boolean_value("course_rust", True, EvaluationContext(targeting_key="cus_of_5")) is False


def test_an_api_key_header_works_and_no_credential_is_refused(flags: Stack) -> None:
    assert bulk(flags, "cus_of_7", authorization="", **{"x-api-key": TOKEN}).status_code == 200
    refused = bulk(flags, "cus_of_7", authorization="")
    assert refused.status_code == 401 and refused.json()["errorCode"] == "GENERAL"
    url = f"{flags.base_url}/ofrep/v1/evaluate/flags/tier"
    for body, code in (({"context": {}}, "TARGETING_KEY_MISSING"), ({"nope": 1}, "PARSE_ERROR")):
        answer = HTTP.post(url, json=body, headers={"x-api-key": TOKEN})
        assert answer.status_code == 400 and answer.json() | {"errorDetails": ""} == {
            "key": "tier",
            "errorCode": code,
            "errorDetails": "",
        }


def test_browsers_from_listed_origins_only(flags: Stack) -> None:
    url = f"{flags.base_url}/ofrep/v1/evaluate/flags"
    preflight = HTTP.options(url, headers={"origin": ORIGIN, "access-control-request-method": "POST"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "if-none-match" in preflight.headers["access-control-allow-headers"]
    answer = bulk(flags, "cus_of_8", origin=ORIGIN)
    assert (
        answer.headers["access-control-allow-origin"] == ORIGIN
        and "ETag" in answer.headers["access-control-expose-headers"]
    )
    stranger = bulk(flags, "cus_of_8", origin="https://evil.example")
    assert "access-control-allow-origin" not in stranger.headers
    assert HTTP.options(url, headers={"origin": "https://evil.example"}).status_code == 403


class Events:
    """An open event stream read on a thread: the `data` of each event, as they come."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        import threading

        import httpx

        self.got: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.status = 0
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=60))
        self._stop = False

        def read() -> None:
            try:
                with self._client.stream("GET", url, headers=headers or {}) as answer:
                    self.status = answer.status_code
                    for line in answer.iter_lines():
                        if line.startswith("id: "):
                            self.ids.append(line[4:])
                        if line.startswith("data: "):
                            self.got.append(json.loads(line[6:]))
            except (httpx.HTTPError, OSError):
                if not self._stop:  # closed by the test: the end it asked for
                    raise

        self.thread = threading.Thread(target=read, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._stop = True
        self._client.close()


def test_a_purchase_reaches_an_open_event_stream_as_a_refetch(flags: Stack, client: redis.Redis) -> None:
    answer = bulk(flags, "cus_of_9")
    (stream,) = answer.json()["eventStreams"]
    events = Events(stream["url"])
    try:
        wait_until(lambda: events.status == 200, what="the stream open")
        buy(flags, client, "cus_of_10")  # another customer's change: nothing on this stream
        buy(flags, client, "cus_of_9")
        (event,) = wait_until(lambda: events.got, what="a refetchEvaluation")
        assert event["type"] == "refetchEvaluation"
        assert event["etag"] == bulk(flags, "cus_of_9").headers["etag"] != answer.headers["etag"]
    finally:
        events.close()
    buy(flags, client, "cus_of_9", PRO)  # a change while no stream is open
    resumed = Events(stream["url"], {"last-event-id": events.ids[-1]})
    try:
        (missed,) = wait_until(lambda: resumed.got, what="the change missed while away")
        assert missed["etag"] == bulk(flags, "cus_of_9").headers["etag"]
    finally:
        resumed.close()


def test_event_streams_are_bounded_and_guarded(stack: Stack, client: redis.Redis) -> None:
    stack.extra_env["UPSELL_EVENT_STREAMS_MAX"] = "2"
    stack.web()
    url = f"{stack.base_url}/ofrep/v1/events"
    token = stack.api("POST", "/api/customers/cus_b/client-tokens").json()["token"]
    assert HTTP.get(f"{url}?customer_id=cus_other&token={token}").status_code == 403
    assert HTTP.get(f"{url}?customer_id=cus_b&token=ct_forged.x").status_code == 401
    held = [Events(url, {"authorization": f"Bearer {TOKEN}"}), Events(f"{url}?customer_id=cus_b&token={token}")]
    try:
        wait_until(lambda: all(e.status == 200 for e in held), what="an API token's stream for everyone, and one more")
        refused = HTTP.get(f"{url}?token={token}")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert "UPSELL_EVENT_STREAMS_MAX" in refused.json()["error"]
    finally:
        for events in held:
            events.close()


def test_a_client_token_in_a_loop_gets_429_with_retry_after(flags: Stack) -> None:
    token = mint(flags, "cus_loop").json()["token"]
    answers = [bulk(flags, "cus_loop", authorization=f"Bearer {token}") for _ in range(60)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and limited[0].headers["retry-after"] == "1" and limited[0].json()["errorCode"] == "GENERAL"
    assert all(bulk(flags, "cus_loop").status_code == 200 for _ in range(30)), "API tokens are not limited"


def test_if_none_match_takes_a_list_and_weak_tags(flags: Stack) -> None:
    tag = bulk(flags, "cus_of_list").headers["etag"]
    assert bulk(flags, "cus_of_list", **{"if-none-match": f'"other", W/{tag}'}).status_code == 304
    assert bulk(flags, "cus_of_list", **{"if-none-match": '"other"'}).status_code == 200
