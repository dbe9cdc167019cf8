"""`POST /webhooks/dodo`: verify, classify, dedupe and enqueue, in DESIGN.md's order."""

from __future__ import annotations

import json

import redis.exceptions
import structlog
from prometheus_client import Counter, Histogram
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from worker import catalog
from worker.queue.intake import Intake

MAX_BODY_BYTES = 1024 * 1024
log = structlog.get_logger("receiver")
OUTCOMES = Counter("upsell_webhooks_total", "Webhook deliveries by outcome", ["outcome"])
LATENCY = Histogram("upsell_webhook_seconds", "Time to answer a webhook delivery")


class Verifier:
    """Accepts a delivery signed with any configured secret (rotation lists several)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._hooks = [Webhook(secret) for secret in secrets]

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        for hook in self._hooks:
            try:
                hook.verify(body, headers, json_parse=False)
                return True
            except (WebhookVerificationError, ValueError, OverflowError, OSError, TypeError):
                # ValueError: malformed signature entry, bad base64, or a body that is not UTF-8;
                # OverflowError/OSError: a timestamp no clock can hold. Any of them: not verified.
                continue
        return False


async def _read_limited(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(outcome: str, status: int, body: dict[str, str]) -> JSONResponse:
    OUTCOMES.labels(outcome).inc()
    return JSONResponse(body, status_code=status)


class WebhookEndpoint:
    def __init__(self, verifier: Verifier, intake: Intake) -> None:
        self.verifier = verifier
        self.intake = intake

    async def receive(self, request: Request) -> JSONResponse:
        with LATENCY.time():
            return await self._receive(request)

    async def _receive(self, request: Request) -> JSONResponse:
        webhook_id = request.headers.get("webhook-id", "")
        bound = log.bind(webhook_id=webhook_id)
        body = await _read_limited(request)
        if body is None:
            bound.warning("webhook_too_large", limit=MAX_BODY_BYTES)
            return _answer("too_large", 413, {"error": "body over 1 MiB"})
        headers = {
            name: request.headers.get(name, "") for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        }
        if not self.verifier.verify(body, headers):
            bound.warning(
                "webhook_signature_invalid",
                hint="check DODO_PAYMENTS_WEBHOOK_KEY matches the endpoint's secret in Dodo",
            )
            return _answer("invalid_signature", 401, {"error": "invalid signature"})
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return _answer("bad_json", 400, {"error": "body is not JSON (or nested too deeply)"})
        event_type = payload.get("type") if isinstance(payload, dict) else None
        if not isinstance(event_type, str):
            return _answer("bad_json", 400, {"error": "body has no string field 'type'"})
        bound = bound.bind(event_type=event_type)
        if event_type not in catalog.BY_TYPE:
            bound.info("webhook_ignored")
            return _answer("ignored", 200, {"status": "ignored"})
        try:
            queued = await self.intake.enqueue_once(event_type, webhook_id, body.decode("utf-8"))
        except redis.exceptions.RedisError as exc:
            bound.error("webhook_not_stored", error=type(exc).__name__, hint="Redis unreachable; Dodo will retry")
            return _answer("unavailable", 503, {"error": "queue unavailable, retry later"})
        outcome = "queued" if queued else "duplicate"
        log.info("webhook_" + outcome, webhook_id=webhook_id, event_type=event_type)
        return _answer(outcome, 200, {"status": outcome})
