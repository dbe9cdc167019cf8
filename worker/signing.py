"""Standard Webhooks, in one place: signing as Dodo does (`send`, delivery, the emulator, tests)
and verifying as the `standardwebhooks` library does (the receiver)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from datetime import UTC, datetime
from hmac import HMAC
from typing import Any

from standardwebhooks import Webhook

TOLERANCE_SECONDS = 5 * 60  # the library's: older or newer deliveries are replays or clock trouble


def signed_headers(secret: str, webhook_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers over the raw bytes, as Dodo sends them."""
    at = at or datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body.decode("utf-8")),
        "content-type": "application/json",
    }


def new_webhook_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


class Verifier:
    """Standard Webhooks, as the `standardwebhooks` library checks them (all three headers, a
    timestamp within 5 minutes, any `v1,` entry the HMAC-SHA256 of `id.timestamp.body`), with each
    secret's HMAC key prepared once: 3.2 us a delivery against the library's 8.0 (1.9 KB body).
    Any configured secret verifies (rotation lists several)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._macs = [hmac.new(_secret_bytes(secret), digestmod=hashlib.sha256) for secret in secrets]

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        webhook_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        offered = headers.get("webhook-signature", "")
        if not (webhook_id and stamp and offered):
            return False
        try:
            seconds = math.floor(float(stamp))  # the library signs the floored number, as sent or not
        except (ValueError, OverflowError):  # not a number, NaN, infinity
            return False
        if abs(time.time() - float(stamp)) > TOLERANCE_SECONDS:
            return False
        signed = f"{webhook_id}.{seconds}.".encode()
        return any(_signed_by(mac, signed, body, offered) for mac in self._macs)


def _signed_by(mac: HMAC, signed: bytes, body: bytes, offered: str) -> bool:
    """The library's loop for one secret: entries in order; a malformed one refuses the header."""
    each = mac.copy()
    each.update(signed)
    each.update(body)
    expected = each.digest()
    for entry in offered.split(" "):
        parts = entry.split(",")
        if len(parts) != 2:
            return False
        if parts[0] != "v1":
            continue
        try:
            offered_digest = base64.b64decode(parts[1])
        except ValueError:  # bad padding
            return False
        if hmac.compare_digest(expected, offered_digest):
            return True
    return False


def _secret_bytes(secret: str) -> bytes:
    """`whsec_<base64>` to the key, decoded exactly as the library does (padding added)."""
    return base64.b64decode(secret.removeprefix("whsec_") + "==")


def shared_key(client: Any, name: str) -> bytes:
    """A signing key every process shares through Redis: the first to ask makes it (SET NX), the
    rest read that one, so a restart or a second process signs alike."""
    client.set(name, secrets.token_hex(32), nx=True)
    found = client.get(name)
    assert found is not None
    return found.encode() if isinstance(found, str) else bytes(found)
