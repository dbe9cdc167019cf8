"""`dodo-upsell demo`: receiver, worker and Dodo emulator in one process, walking one upsell through."""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx

from worker import catalog, redisconn, signing


def _wait(what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise SystemExit(f"demo stopped: no {what} after {timeout}s")


def run(web_port: int = 8010, dodo_port: int = 8787) -> None:
    """On `dev`'s wiring, with fresh values and a throwaway Valkey, whatever the environment says."""
    from emulator.demo_data import CUSTOMER
    from emulator.shapes import template
    from worker.cli import dev, project

    for name in ("REDIS_URL", "DODO_PAYMENTS_BASE_URL", "DODO_PAYMENTS_WEBHOOK_KEY", "UPSELL_API_TOKENS"):
        os.environ.pop(name, None)
    values = project.DevValues(
        secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        token="demo_" + secrets.token_urlsafe(12),
        redis_port=project.free_port(),
        web_port=web_port,
        dodo_port=dodo_port,
    )
    local = dev.start(values, Path(tempfile.mkdtemp(prefix="dodo-upsell-demo-")), "127.0.0.1")
    web = f"http://127.0.0.1:{web_port}"
    api = httpx.Client(base_url=web, headers={"authorization": f"Bearer {values.token}"}, timeout=10)
    try:
        _walk(api, template, CUSTOMER, web, values.secret)
        _cancel(api, f"http://127.0.0.1:{dodo_port}", CUSTOMER)
    finally:
        local.stop()


def _walk(api: httpx.Client, template: Callable[[str], dict[str, Any]], customer: str, web: str, secret: str) -> None:
    print(f"1. Dodo delivers payment.succeeded: {customer} bought the Rust course")
    body = json.dumps(template(catalog.PAYMENT_SUCCEEDED.name)).encode()
    answer = httpx.post(
        web + "/webhooks/dodo", content=body, headers=signing.signed_headers(secret, signing.new_webhook_id(), body)
    )
    print(f"   receiver: {answer.status_code} {answer.text}")

    def offer() -> dict[str, Any] | None:
        return next(iter(api.get(f"/api/customers/{customer}/offers").json()["offers"]), None)

    created = _wait("offer", offer)
    print(
        f"2. rule {created['rule_id']!r} made offer {created['offer_id']}: {created['type']} {created['product_id']} "
        f"(variant {created['variant']}, expires {created['expires_at']})"
    )
    accepted = api.post(f"/api/offers/{created['offer_id']}/accept")
    print(f"3. the customer clicks accept: {accepted.status_code}, state {accepted.json()['state']}")
    converted = _wait(
        "conversion", lambda: (o := api.get(f"/api/offers/{created['offer_id']}").json())["state"] == "converted" and o
    )
    print(
        "4. charged once with the saved card through Dodo's API; Dodo's payment.succeeded converted it: "
        f"payment {converted['payment_id']}"
    )
    access = _wait("access", lambda: (a := api.get(f"/api/customers/{customer}/access").json())["version"] >= 2 and a)
    print(f"5. access v{access['version']}: tier {access['tier']}, features {access['features']}")

    stream: list[Any] = redisconn.connect(os.environ["REDIS_URL"], decode_responses=True).xrange("upsell:events")  # type: ignore[assignment]
    print("6. events for entitlement systems on upsell:events: " + ", ".join(fields["type"] for _, fields in stream))


def _cancel(api: httpx.Client, dodo: str, customer: str) -> None:
    """The other half of access: a subscription that starts, is cancelled, and ends at its period end."""
    from datetime import datetime, timedelta

    subscription = "sub_7EeHq2ewQuadropD2ra"
    httpx.post(
        f"{dodo}/_emulator/lifecycle", json={"type": catalog.SUBSCRIPTION_ACTIVE.name, "subscription_id": subscription}
    )
    _wait("subscription grant", lambda: api.get(f"/api/customers/{customer}/access").json()["tier"] == "basic")
    print("7. Dodo delivers subscription.active: tier basic; the customer then cancels, period ending in 3 s")
    ends = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    body = {"type": catalog.SUBSCRIPTION_CANCELLED.name, "subscription_id": subscription, "next_billing_date": ends}
    httpx.post(f"{dodo}/_emulator/lifecycle", json=body)

    def ending() -> dict[str, Any] | None:
        grants = api.get(f"/api/customers/{customer}/access").json()["grants"]
        return next((g for g in grants if g["source"] == subscription and g["ends_at"]), None)

    print(f"   access kept until the period ends: ends_at {_wait('scheduled end', ending)['ends_at']}")
    access = _wait(
        "revocation", lambda: (a := api.get(f"/api/customers/{customer}/access").json())["tier"] is None and a
    )
    print(
        f"8. period over: the worker revoked it on time (reason cancelled): tier {access['tier']}, "
        f"features {access['features']}"
    )
