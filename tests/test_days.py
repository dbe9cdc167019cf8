"""Promises that span days, at their real scale: the receiver and worker are started again with their
wall clock moved forward (UPSELL_TEST_CLOCK_SHIFT, time-machine), Redis kept. Each promise is
checked both ways: the system running across the moment, and down over it and started afterwards."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis

from tests.conftest import SECRET, Stack, drained, fixture, free_port, read_events, wait_until
from worker import keys, testclock
from worker.queue import schedule

DAY = 86400.0
CUSTOMER = "cus_8VbC6JDZzPEqfBPUdpj0K"
BASIC, PRO, COURSE, ADDON = (
    "pdt_RUST4raxbl0Rfe4VQi1z",
    "pdt_PRO0planUpgrade9xQ",
    "pdt_e9mUw084cWnu0tz",
    "pdt_ADDON0priority7Kq",
)
LEAD = 8.0  # running across: the processes start this long before the moment (start-up takes ~3 s)


def iso(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat().replace("+00:00", "Z")


def event(kind: str, at: float = 0, customer: str = CUSTOMER, **data: Any) -> dict[str, Any]:
    body = copy.deepcopy(fixture(kind))
    body["timestamp"] = iso(at)
    body["data"].update(data)
    body["data"]["customer"]["customer_id"] = customer
    return body


def post_all(stack: Stack, client: redis.Redis, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        assert stack.post(body).json()["status"] == "queued"
        drained(client, within=0)


def restart(stack: Stack, shift: float) -> None:
    """Stop the receiver and worker; start them again with the wall clock `shift` seconds ahead."""
    for proc in [p for p in stack.procs if not p.log.name.startswith("emulator")]:
        proc.stop()
        stack.procs.remove(proc)
    stack.extra_env[testclock.VARIABLE] = repr(shift)
    stack.web()
    stack.worker()


def reach(stack: Stack, due_in: float, mode: str) -> None:
    """Move the system to a moment `due_in` seconds from now (real time): started shortly before it
    ("across", the moment passes while it runs) or an hour after it ("down")."""
    restart(stack, due_in - LEAD if mode == "across" else due_in + 3600)


def typed(client: redis.Redis, kind: str) -> list[dict[str, Any]]:
    return [e for e in read_events(client) if e["type"] == kind]


def access(stack: Stack, customer: str = CUSTOMER) -> dict[str, Any]:
    return stack.api("GET", f"/api/customers/{customer}/access").json()


def removing(client: redis.Redis, gone: str) -> list[dict[str, Any]]:
    events = [e for e in read_events(client) if e["type"].startswith("access.")]
    return [e for e in events if gone in e["data"]["change"]["features_removed"]]


def revoked_once(stack: Stack, client: redis.Redis, reason: str, gone: str) -> None:
    wait_until(lambda: removing(client, gone), 40, what=f"{gone} revoked ({reason})")
    drained(client, within=0)
    assert gone not in access(stack)["features"]
    events = [e for e in read_events(client) if e["type"].startswith("access.")]
    removing_events = removing(client, gone)
    assert len(removing_events) == 1, removing_events
    assert removing_events[0]["data"]["change"]["reason"] == reason
    versions = [e["data"]["version"] for e in events]  # the stream keeps 30 days: older entries are trimmed
    assert versions == list(range(versions[0], versions[0] + len(versions)))
    assert client.hlen(keys.DEAD_LETTERS) == 0


MODES = ["across", "down"]


@pytest.fixture
def started(stack: Stack) -> Stack:
    stack.web()
    stack.worker()
    return stack


@pytest.mark.parametrize("mode", MODES)
def test_cancel_at_period_end_revokes_30_days_later(started: Stack, client: redis.Redis, mode: str) -> None:
    post_all(
        started,
        client,
        event("subscription.active", -10),
        event("subscription.cancelled", next_billing_date=iso(30 * DAY)),
    )
    reach(started, 30 * DAY, mode)
    if mode == "across":
        assert "reports" in access(started)["features"]  # not before its time
    revoked_once(started, client, "cancelled", "reports")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["subscription.on_hold", "subscription.past_due"])
def test_grace_of_3_days_then_revoked(started: Stack, client: redis.Redis, kind: str, mode: str) -> None:
    post_all(started, client, event("subscription.active", -10), event(kind))
    reach(started, 3 * DAY, mode)
    if mode == "across":
        assert "reports" in access(started)["features"]
    revoked_once(started, client, "grace_ended", "reports")


@pytest.mark.parametrize("mode", MODES)
def test_a_one_time_product_with_a_365_day_lifetime_ends(stack: Stack, client: redis.Redis, mode: str) -> None:
    path = stack.rules_dir / "access.yaml"
    path.write_text(path.read_text().replace("{features: [course_rust]}", "{features: [course_rust], duration: 365d}"))
    stack.web()
    stack.worker()
    post_all(stack, client, event("payment.succeeded"))
    assert "course_rust" in access(stack)["features"]
    reach(stack, 365 * DAY, mode)
    revoked_once(stack, client, "expired", "course_rust")


FOLLOW_UPS = f"""rules:
  - id: addon
    on: payment.succeeded
    when: {{product: [{COURSE}]}}
    offer: {{type: one_click, product: {ADDON}}}
    expires_in: 48h
  - id: nudge
    on: offer.created
    when: {{offer_rule: addon}}
    delay: 24h
    notify: offer.reminder
  - id: win-back
    on: subscription.cancelled
    when: {{lacks: [basic]}}
    delay: 7d
    offer: {{type: cross_sell, product: {BASIC}}}
    expires_in: 7d
"""


@pytest.fixture
def follow_ups(stack: Stack) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text(FOLLOW_UPS)
    stack.emulator()
    stack.web()
    stack.worker()
    return stack


def offer_of(stack: Stack, rule: str) -> dict[str, Any] | None:
    offers = stack.api("GET", f"/api/customers/{CUSTOMER}/offers").json()["offers"]
    return next((o for o in offers if o["rule_id"] == rule), None)


@pytest.mark.parametrize("mode", MODES)
def test_a_24h_reminder_then_a_48h_expiry(follow_ups: Stack, client: redis.Redis, mode: str) -> None:
    post_all(follow_ups, client, event("payment.succeeded"))
    offer = wait_until(lambda: offer_of(follow_ups, "addon"), what="the offer")
    reach(follow_ups, DAY, mode)
    if mode == "across":
        assert not typed(client, "offer.reminder")
    wait_until(lambda: typed(client, "offer.reminder"), 40, what="the 24 h reminder")
    assert offer_of(follow_ups, "addon")["state"] == "pending"  # type: ignore[index]
    reach(follow_ups, 2 * DAY, mode)
    wait_until(lambda: offer_of(follow_ups, "addon")["state"] == "expired", 40, what="the 48 h expiry")  # type: ignore[index]
    drained(client, within=0)
    assert len(typed(client, "offer.reminder")) == 1 and len(typed(client, "offer.expired")) == 1
    accepted = follow_ups.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    assert accepted.status_code == 409


@pytest.mark.parametrize("mode", MODES)
def test_a_7_day_win_back_after_access_ended(follow_ups: Stack, client: redis.Redis, mode: str) -> None:
    post_all(
        follow_ups,
        client,
        event("subscription.active", -10),
        event("subscription.cancelled", next_billing_date=iso(DAY)),
    )
    reach(follow_ups, 7 * DAY, mode)
    if mode == "across":
        assert offer_of(follow_ups, "win-back") is None
    offer = wait_until(lambda: offer_of(follow_ups, "win-back"), 40, what="the win-back offer")
    assert offer["product_id"] == BASIC
    drained(client, within=0)
    assert len([e for e in typed(client, "offer.created") if json.dumps(e).count("win-back")]) == 1


class Endpoint:
    """An entitlement endpoint that fails its first `failures` attempts."""

    def __init__(self, failures: int) -> None:
        self.attempts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                outer.attempts.append(self.headers["webhook-id"])
                self.send_response(503 if len(outer.attempts) <= failures else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint(failures=2)
    yield server
    server.server.shutdown()


@pytest.mark.parametrize("mode", MODES)
def test_a_delivery_retried_24_hours_later(stack: Stack, client: redis.Redis, endpoint: Endpoint, mode: str) -> None:
    (stack.rules_dir / "endpoints.yaml").write_text(
        f"endpoints:\n  - id: ent\n    url: {endpoint.url}\n    secret_env: ENT_SECRET\n"
    )
    stack.extra_env.update(ENT_SECRET=SECRET, UPSELL_DELIVERY_BACKOFF="1s,24h,1s")
    stack.web()
    stack.worker()
    post_all(stack, client, event("payment.succeeded"))
    wait_until(lambda: len(endpoint.attempts) == 2, 20, what="two failed attempts")
    reach(stack, DAY, mode)
    wait_until(lambda: len(endpoint.attempts) == 3, 40, what="the attempt 24 h later")
    drained(client, within=0)
    assert len(set(endpoint.attempts)) == 1 and client.hlen(keys.DELIVERY_DEAD) == 0


@pytest.mark.parametrize("mode", MODES)
def test_the_15_minute_reconcile_settles_a_charge_whose_webhook_never_came(
    stack: Stack, client: redis.Redis, mode: str
) -> None:
    (stack.rules_dir / "upsell.yaml").write_text(FOLLOW_UPS)
    real = stack.base_url
    stack.base_url = f"http://127.0.0.1:{free_port()}"  # Dodo's webhooks go nowhere
    stack.emulator()
    stack.base_url = real
    stack.web()
    stack.worker()
    post_all(stack, client, event("payment.succeeded"))
    offer = wait_until(lambda: offer_of(stack, "addon"), what="the offer")
    assert stack.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202

    def state() -> str:
        return stack.api("GET", f"/api/offers/{offer['offer_id']}").json()["state"]

    wait_until(lambda: stack.dodo_requests("POST", "/checkouts"), what="the charge request")
    assert state() == "charging"
    reach(stack, 15 * 60 + 5, mode)
    wait_until(lambda: state() == "converted", 40, what="the reconcile")
    drained(client, within=0)
    assert len([r for r in stack.dodo_requests("POST", "/checkouts") if r["body"].get("confirm")]) == 1
    assert len(typed(client, "offer.converted")) == 1


def test_a_job_due_a_year_ahead_runs_once_when_due(stack: Stack, client: redis.Redis) -> None:
    """The root cause: a job's age is counted from when it fell due, not from when it was scheduled
    (Dramatiq's 24 h age limit dropped every job scheduled further ahead)."""
    stack.web()
    stack.worker()
    post_all(stack, client, event("payment.succeeded"))
    with client.pipeline() as pipe:
        schedule.add(pipe, "revoke:year", time.time() + 365 * DAY, "revoke_grant", CUSTOMER, "k", "1.0", "expired", "t")
        pipe.execute()
    restart(stack, 365 * DAY + 60)
    worker = stack.procs[-1]
    wait_until(lambda: "revocation_skipped" in worker.output(), 20, what="the job to run")
    drained(client, within=0)
    assert worker.output().count("revocation_skipped") == 1
    assert "age limit" not in worker.output() and client.hlen(keys.DEAD_LETTERS) == 0


def test_down_over_several_ends_they_all_run_once_in_due_order(stack: Stack, client: redis.Redis) -> None:
    """Three grants of one customer end on days 1, 2 and 3 while nothing runs: started on day 4,
    each revocation is applied once, in the order the grants ended."""
    path = stack.rules_dir / "access.yaml"
    path.write_text(path.read_text().replace("{features: [course_rust]}", "{features: [course_rust], duration: 2d}"))
    stack.web()
    stack.worker()
    post_all(
        stack,
        client,
        event("subscription.active", -10, subscription_id="sub_basic", product_id=BASIC),
        event("subscription.active", -9, subscription_id="sub_pro", product_id=PRO),
        event("payment.succeeded"),
        event("subscription.cancelled", -5, subscription_id="sub_basic", product_id=BASIC, next_billing_date=iso(DAY)),
        event("subscription.on_hold", subscription_id="sub_pro", product_id=PRO),
    )
    restart(stack, 4 * DAY)
    wait_until(lambda: typed(client, "access.revoked"), 40, what="the last revocation")
    drained(client, within=0)
    reasons = [e["data"]["change"]["reason"] for e in read_events(client) if e["type"].startswith("access.")]
    assert reasons[-3:] == ["cancelled", "expired", "grace_ended"] and reasons.count("cancelled") == 1
    assert access(stack)["grants"] == [] and access(stack)["ended"] == []


def test_operators_see_what_is_coming(started: Stack, client: redis.Redis) -> None:
    """`dodo-upsell schedule`: what, for whom, when and why, as a table and as JSON, filtered."""
    post_all(
        started,
        client,
        event("subscription.active", -10),
        event("subscription.cancelled", next_billing_date=iso(30 * DAY)),
        event("subscription.active", -10, subscription_id="sub_other", customer="cus_other"),
        event("subscription.on_hold", subscription_id="sub_other", customer="cus_other"),
    )

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "worker", "schedule", *args], env=started.env(), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    rows = json.loads(cli("--json"))
    assert [(r["customer_id"], r["why"].split()[0]) for r in rows] == [
        ("cus_other", "grace_ended"),
        (CUSTOMER, "cancelled"),
    ]
    assert rows[1]["what"] == "revoke grant sub_7EeHq2ewQuadropD2ra" and rows[1]["due_at"].startswith(
        iso(30 * DAY)[:10]
    )
    assert [r["customer_id"] for r in json.loads(cli("--json", "--due-within", "7d"))] == ["cus_other"]
    assert [r["customer_id"] for r in json.loads(cli("--json", "--customer", CUSTOMER))] == [CUSTOMER]
    table = cli()
    assert table.splitlines()[0].split() == ["DUE_AT", "CUSTOMER_ID", "WHAT", "WHY"] and "cus_other" in table
