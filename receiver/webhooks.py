"""`POST /webhooks/dodo`: verify, classify, dedupe and enqueue, in the order docs/operations.md gives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from hmac import HMAC

import orjson
import redis.exceptions
import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from worker import catalog, strictjson
from worker.queue.intake import Intake

PATH = "/webhooks/dodo"
MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_SECONDS = 5 * 60  # the library's: older or newer deliveries are replays or clock trouble
log = structlog.get_logger("receiver")
OUTCOMES = Counter("upsell_webhooks_total", "Webhook deliveries by outcome", ["outcome"])
LATENCY = Histogram("upsell_webhook_seconds", "Time to answer a webhook delivery")


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


# Every answer the endpoint gives, as (status, JSON bytes), and its counter: built once, not per request.
ANSWERS: dict[str, tuple[int, bytes]] = {
    outcome: (status, orjson.dumps(body))
    for outcome, status, body in (
        ("queued", 200, {"status": "queued"}),
        ("duplicate", 200, {"status": "duplicate"}),
        ("ignored", 200, {"status": "ignored"}),
        ("too_large", 413, {"error": "body over 1 MiB"}),
        ("invalid_signature", 401, {"error": "invalid signature"}),
        ("not_json", 400, {"error": f"body is not strict JSON (UTF-8, no NaN, at most {strictjson.MAX_DEPTH} deep)"}),
        ("no_type", 400, {"error": "body has no string field 'type'"}),
        ("unavailable", 503, {"error": "queue unavailable, retry later"}),
    )
}
_COUNTERS = {
    outcome: OUTCOMES.labels("bad_json" if outcome in ("not_json", "no_type") else outcome) for outcome in ANSWERS
}
_JSON_HEADERS = [(b"content-type", b"application/json")]
_WANTED = (b"webhook-id", b"webhook-timestamp", b"webhook-signature", b"content-length")


async def read_body(receive: Receive, declared: str, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body straight from ASGI messages, or None once it is known to exceed `limit`."""
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


class WebhookEndpoint:
    """`POST /webhooks/dodo` as a plain ASGI app, in front of Starlette: the hottest path pays for
    no routing, middleware, Request or Response objects (bench.ingest: 143 us a request before)."""

    def __init__(self, verifier: Verifier, intake: Intake) -> None:
        self.verifier = verifier
        self.intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if scope["method"] != "POST":
            await _send(send, 405, b'{"error":"use POST"}', [(b"allow", b"POST")])
            return
        found = {name: value for name, value in reversed(scope["headers"]) if name in _WANTED}  # first one wins
        headers = {name.decode(): found.get(name, b"").decode("latin-1") for name in _WANTED}
        outcome = await self._receive(receive, headers)
        _COUNTERS[outcome].inc()
        await _send(send, *ANSWERS[outcome])
        LATENCY.observe(time.perf_counter() - started)

    async def _receive(self, receive: Receive, headers: dict[str, str]) -> str:
        """The outcome, a key of ANSWERS."""
        webhook_id = headers["webhook-id"]
        body = await read_body(receive, headers.pop("content-length"))
        if body is None:
            log.warning("webhook_too_large", webhook_id=webhook_id, limit=MAX_BODY_BYTES)
            return "too_large"
        if not self.verifier.verify(body, headers):
            log.warning(
                "webhook_signature_invalid",
                webhook_id=webhook_id,
                hint="check DODO_PAYMENTS_WEBHOOK_KEY matches the endpoint's secret in Dodo",
            )
            return "invalid_signature"
        try:
            payload = strictjson.loads(body)
        except strictjson.NotStrict:
            return "not_json"
        event_type = payload.get("type") if isinstance(payload, dict) else None
        if not isinstance(event_type, str):
            return "no_type"
        if event_type not in catalog.BY_TYPE:
            log.info("webhook_ignored", webhook_id=webhook_id, event_type=event_type)
            return "ignored"
        try:
            queued = await self.intake.enqueue_once(event_type, webhook_id, body.decode("utf-8"))
        except redis.exceptions.RedisError as exc:
            log.error(
                "webhook_not_stored",
                webhook_id=webhook_id,
                event_type=event_type,
                error=type(exc).__name__,
                hint="Redis unreachable; Dodo will retry",
            )
            return "unavailable"
        if not queued:
            log.info("webhook_duplicate", webhook_id=webhook_id, event_type=event_type)
            return "duplicate"
        # The worker logs every queued webhook-id when it processes it; a line here too cost 8% of
        # the receiver's CPU under load (bench.ingest), so it is at debug level.
        log.debug("webhook_queued", webhook_id=webhook_id, event_type=event_type)
        return "queued"


async def _send(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": _JSON_HEADERS + length + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class WebhookFirst:
    """Sends `POST /webhooks/dodo` to the endpoint and everything else (API, health, lifespan) to Starlette."""

    def __init__(self, webhook: WebhookEndpoint, app: ASGIApp) -> None:
        self.webhook = webhook
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH:
            await self.webhook(scope, receive, send)
        else:
            await self.app(scope, receive, send)
