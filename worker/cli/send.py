"""`dodo-upsell send`: sign a payload exactly as Dodo does and post it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook


def signed_headers(secret: str, webhook_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers over the raw bytes, as Dodo sends them."""
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(webhook_id, at, body.decode("utf-8"))
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def new_webhook_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def send(body: bytes, url: str, secret: str, webhook_id: str | None = None) -> httpx.Response:
    headers = signed_headers(secret, webhook_id or new_webhook_id(), body)
    return httpx.post(url, content=body, headers=headers, timeout=15)
