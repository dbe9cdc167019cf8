"""`rules backtest`: recorded traffic replayed through a draft predicts what the draft does live."""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import HTTP, TOKEN, Stack, archived, drained, fixture, read_events, wait_until
from tests.test_charges import ADDON, BASIC, COURSE, PRO

LIVE = f"""rules:
  - id: addon
    on: payment.succeeded
    when: {{product: [{COURSE}]}}
    offer: {{type: cross_sell, product: {ADDON}}}
"""
# Every rule here depends on something the backtest must rebuild: access at the time (has, lacks),
# suppression after a refund, once-per-customer, offers made by other draft rules, app events.
DRAFT = f"""rules:
  - id: addon-for-non-pro
    on: payment.succeeded
    when: {{product: [{COURSE}], lacks: [pro]}}
    offer: {{type: cross_sell, product: {ADDON}}}
    limit: {{once_per_customer: true}}
  - id: addon-for-pro
    on: payment.succeeded
    when: {{product: [{COURSE}], has: [pro]}}
    variants:
      - {{name: plain, weight: 1}}
      - {{name: discounted, weight: 1, offer: {{discount_code: PRO20}}}}
    offer: {{type: cross_sell, product: {ADDON}}}
  - id: basic-to-pro
    on: subscription.active
    when: {{product: [{BASIC}], lacks: [course_rust]}}
    offer: {{type: upgrade, product: {PRO}}}
  - id: course-after-upgrade-offer
    on: offer.created
    when: {{offer_rule: [basic-to-pro]}}
    offer: {{type: cross_sell, product: {COURSE}}}
  - id: usage-upgrade
    on: app.usage_milestone
    when: {{fields: {{min_count: 5}}, lacks: [api]}}
    offer: {{type: upgrade, product: {PRO}}}
  - id: shadow-addon
    on: payment.succeeded
    mode: shadow
    offer: {{type: cross_sell, product: {ADDON}}}
    limit: {{once_per_customer: true}}
"""

Send = tuple[str, str, dict[str, Any]]  # ("webhook" | "app", id or idempotency key, body)


def traffic(seed: int, customers: int = 6, steps: int = 36) -> list[Send]:
    """A seeded mix of subscriptions starting and ending, purchases, refunds and app events, each
    customer's events in time order, so access and suppression change as the traffic goes."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sends: list[Send] = []
    payments: dict[str, list[str]] = {}
    for n in range(steps):
        customer = f"cus_bt{seed}_{rng.randrange(customers)}"
        stamp = (start + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")
        kind = rng.choice(["active", "active", "buy", "buy", "buy", "expire", "refund", "app"])
        if kind == "app":
            own = f"sub_{customer}_{BASIC[-4:]}"  # the customer's basic plan, if the traffic started it
            event = {"type": "app.usage_milestone", "data": {"count": 3 + rng.randrange(7), "subscription_id": own}}
            sends.append(("app", f"{customer}:{n}", {"customer": customer, "event": event}))
            continue
        if kind == "refund" and payments.get(customer):
            body = copy.deepcopy(fixture("refund.succeeded"))
            body["data"].update(payment_id=rng.choice(payments[customer]), amount=100, currency="USD")
            body["data"]["customer"]["customer_id"] = customer
        elif kind in ("active", "expire"):
            body = copy.deepcopy(fixture("subscription.active" if kind == "active" else "subscription.expired"))
            plan = rng.choice([BASIC, PRO])
            body["data"].update(product_id=plan, subscription_id=f"sub_{customer}_{plan[-4:]}")
        else:
            body = copy.deepcopy(fixture("payment.succeeded"))
            body["data"].update(payment_id=f"pay_bt{seed}_{n}", total_amount=rng.choice([500, 2500]))
            # only the course is bought: the draft offers the add-on, never to one who owns it
            body["data"]["product_cart"] = [{"product_id": rng.choice([COURSE, COURSE, COURSE]), "quantity": 1}]
            body["data"]["subscription_id"] = None
            body["data"]["metadata"] = {}
            payments.setdefault(customer, []).append(body["data"]["payment_id"])
        body["timestamp"] = stamp
        body["data"]["customer"]["customer_id"] = customer
        sends.append(("webhook", f"msg_bt{seed}_{n}", body))
    return sends


def send_all(stack: Stack, client: redis.Redis, sends: list[Send]) -> None:
    """One at a time, each processed before the next: the order the backtest replays. Dodo (the
    emulator) knows each subscription as the traffic leaves it: live plan-change offers ask it."""
    for kind, key, body in sends:
        if kind == "webhook" and body["type"].startswith("subscription."):
            data = body["data"]
            sub = {"customer_id": data["customer"]["customer_id"], "product_id": data["product_id"], "quantity": 1}
            sub["status"] = "active" if body["type"] == "subscription.active" else "expired"
            stack.dodo_control("seed", {"subscriptions": {data["subscription_id"]: sub}})
        if kind == "webhook":
            answer = stack.post(body, webhook_id=key)
        else:
            answer = HTTP.post(
                f"{stack.base_url}/api/customers/{body['customer']}/events",
                json=body["event"],
                headers={"authorization": f"Bearer {TOKEN}", "idempotency-key": key},
                timeout=15,
            )
        assert answer.status_code in (200, 202), answer.text
        drained(client, within=0)


def run_backtest(stack: Stack, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dodo-upsell rules backtest DIR ...` as an operator runs it, against the stack's Redis."""
    argv = [sys.executable, "-m", "worker", "rules", "backtest", str(directory), *args]
    return subprocess.run(argv, env=stack.env(), capture_output=True, text=True, timeout=120)


def backtest(stack: Stack, directory: Path, *args: str) -> dict[str, Any]:
    done = run_backtest(stack, directory, "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def snapshot(redis_url: str) -> dict[bytes, tuple[bytes, int]]:
    """Every key's serialized value and expiry time: any write at all shows up as a difference."""
    raw = redis.Redis.from_url(redis_url)
    try:
        return {key: (raw.dump(key), raw.pexpiretime(key)) for key in raw.scan_iter(count=1000)}
    finally:
        raw.close()


def predicted(result: dict[str, Any]) -> dict[str, set[str]]:
    """Offer ids per live-mode draft rule (shadow rules emit nothing: their stats are compared)."""
    rules = result["rules"]
    return {rule["rule_id"]: {o["offer_id"] for o in rule["offers"]} for rule in rules if rule["mode"] == "live"}


def made_live(client: redis.Redis) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event in read_events(client):
        if event["type"] == "offer.created":
            found.setdefault(event["data"]["rule_id"], set()).add(event["data"]["offer_id"])
    return found


@pytest.fixture
def draft(tmp_path: Path, rules_dir: Path) -> Path:
    folder = tmp_path / "draft"
    folder.mkdir()
    shutil.copy(rules_dir / "access.yaml", folder)
    (folder / "upsell.yaml").write_text(DRAFT)
    return folder


@pytest.mark.parametrize("seed", [7, 23])
def test_backtest_predicts_exactly_the_offers_the_draft_makes_live(
    stack: Stack, client: redis.Redis, draft: Path, redis_url: str, tmp_path: Path, seed: int
) -> None:
    (stack.rules_dir / "upsell.yaml").write_text(LIVE)
    stack.emulator()
    stack.web()
    stack.worker()
    sends = traffic(seed)

    send_all(stack, client, sends[: len(sends) // 2])
    middle = time.time()
    send_all(stack, client, sends[len(sends) // 2 :])
    live_addon = len(made_live(client).get("addon", set()))
    for proc in stack.procs[1:]:  # receiver and worker: nothing left running that writes while we watch
        proc.stop()

    before = snapshot(redis_url)
    result = backtest(stack, draft, "--since", "1h")
    assert snapshot(redis_url) == before, "a backtest wrote to Redis"
    assert result["events"] == {"in_window": len(sends), "before_window": 0, "skipped": 0}
    rows = {rule["rule_id"]: rule for rule in result["rules"]}
    assert rows["addon"]["in_draft"] is False and rows["addon"]["live_created"] == live_addon
    assert live_addon > 0, "the live rule made no offers: the traffic tests nothing"

    since_middle = datetime.fromtimestamp(middle, UTC).isoformat()
    later = backtest(stack, draft, "--since", since_middle)
    assert later["events"]["before_window"] == len(sends) // 2
    # `has: [pro]` depends on subscriptions that started before the window: access was rebuilt.
    offers = rows["addon-for-pro"]["offers"]
    full_pro = {o["offer_id"] for o in offers if datetime.fromisoformat(o["at"]).timestamp() >= middle}
    assert full_pro, "no has: [pro] offer after the middle: the window check tests nothing"
    assert predicted(later)["addon-for-pro"] == full_pro

    client.flushdb()  # the draft goes live on a fresh system and the same traffic arrives again
    shutil.copy(draft / "upsell.yaml", stack.rules_dir / "upsell.yaml")
    replay = Stack(redis_url, stack.rules_dir, tmp_path / "replay")
    (tmp_path / "replay").mkdir()
    replay.extra_env = dict(stack.extra_env)
    replay.dodo_url = stack.dodo_url
    forgotten = {"customer_id": "cus_none", "product_id": BASIC, "status": "expired"}  # Dodo as before the traffic
    subscriptions = {
        b["data"]["subscription_id"]: forgotten for k, _, b in sends if b.get("type", "").startswith("subscription.")
    }
    stack.dodo_control("seed", {"subscriptions": subscriptions})
    try:
        replay.web()
        replay.worker()
        send_all(replay, client, sends)
        live = made_live(client)
        expected = predicted(result)
        assert all(expected.values()), f"a draft rule predicted nothing, so it tests nothing: {expected}"
        for rule_id, offers in expected.items():
            assert live.get(rule_id, set()) == offers, rule_id
        shadow = replay.api("GET", "/api/stats", params={"since": "1d", "rule": "shadow-addon"}).json()["rules"]
        would = shadow[0]["variants"][0]["would_create"] if shadow else 0
        assert would == rows["shadow-addon"]["would_create"] and rows["shadow-addon"]["mode"] == "shadow"
    finally:
        replay.close()


def test_backtest_errors_are_one_line(stack: Stack, draft: Path) -> None:
    (draft / "upsell.yaml").write_text("rules:\n  - id: x\n    on: payment.nope\n")
    broken = run_backtest(stack, draft)
    assert broken.returncode == 1 and "upsell.yaml:3" in broken.stderr and "nothing was changed" in broken.stderr
    shutil.copy(stack.rules_dir / "access.yaml", draft)
    (draft / "upsell.yaml").write_text(DRAFT)
    bad_since = run_backtest(stack, draft, "--since", "last week")
    assert bad_since.returncode == 1 and bad_since.stderr.count("\n") == 1 and "ISO 8601" in bad_since.stderr


def test_the_archive_keeps_verified_first_deliveries_and_is_trimmed_by_age(stack: Stack, client: redis.Redis) -> None:
    stack.extra_env["UPSELL_INBOUND_RETENTION"] = "1s"
    stack.web()
    body = fixture("payment.succeeded")
    assert stack.post(body, webhook_id="msg_arch_1").json()["status"] == "queued"
    assert stack.post(body, webhook_id="msg_arch_1").json()["status"] == "duplicate"
    assert stack.post(body, webhook_id="msg_arch_2", secret="whsec_" + "A" * 40).status_code == 401
    (entry,) = archived(client)
    assert entry == {"webhook_id": "msg_arch_1", "type": "payment.succeeded", "body": json.dumps(body)}
    event = {"type": "app.usage_milestone", "data": {"count": 3}}
    headers = {"authorization": f"Bearer {TOKEN}", "idempotency-key": "k1"}
    for _ in range(2):  # the second is a duplicate: not archived again
        answer = HTTP.post(f"{stack.base_url}/api/customers/cus_arch/events", json=event, headers=headers, timeout=15)
        assert answer.status_code in (200, 202)
    app = [f for f in archived(client) if "customer_id" in f]
    assert [(f["customer_id"], f["type"], json.loads(f["body"])) for f in app] == [("cus_arch", event["type"], event)]
    sent = iter(range(1000))

    def archived_after_another() -> list[str]:
        assert stack.post(body, webhook_id=f"msg_arch_more_{next(sent)}").status_code == 200
        return [fields.get("webhook_id", fields.get("event_id")) for fields in archived(client)]

    ids = wait_until(lambda: "msg_arch_1" not in (found := archived_after_another()) and found, 15, 0.1)
    assert 1 < len(ids) < 1000 and ids[-1].startswith("msg_arch_more_")  # the newest stay


def test_backtest_says_when_the_archive_holds_nothing(stack: Stack, draft: Path) -> None:
    done = run_backtest(stack, draft, "--since", "2d")
    assert done.returncode == 0, done.stderr
    assert "the archive (upsell:inbound) is empty" in done.stdout and "UPSELL_INBOUND_RETENTION" in done.stdout
    assert "0 events replayed" in done.stdout and "addon-for-pro" in done.stdout
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rule "))
    assert all("archive" not in line for line in lines[header:]), "the note comes before the table, not inside it"
