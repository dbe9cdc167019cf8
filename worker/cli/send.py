"""`dodo-upsell send`: sign a payload exactly as Dodo does and post it."""

from __future__ import annotations

import httpx

from worker.signing import new_webhook_id, signed_headers


def send(body: bytes, url: str, secret: str, webhook_id: str | None = None) -> httpx.Response:
    headers = signed_headers(secret, webhook_id or new_webhook_id(), body)
    return httpx.post(url, content=body, headers=headers, timeout=15)
