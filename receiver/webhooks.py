"""`POST /webhooks/dodo`: verify, classify, dedupe and enqueue, in DESIGN.md's order."""

from __future__ import annotations

import orjson
import redis.exceptions
import structlog
from prometheus_client import Counter, Histogram
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response

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


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None once it is known to exceed `limit` (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


_OUTCOMES = ("queued", "duplicate", "ignored", "too_large", "invalid_signature", "bad_json", "unavailable")
_COUNTERS = {outcome: OUTCOMES.labels(outcome) for outcome in _OUTCOMES}  # label lookup once, not per request


def _answer(outcome: str, status: int, body: dict[str, str]) -> Response:
    """The answer, its JSON written by orjson (the same bytes for the same body)."""
    _COUNTERS[outcome].inc()
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class WebhookEndpoint:
    def __init__(self, verifier: Verifier, intake: Intake) -> None:
        self.verifier = verifier
        self.intake = intake

    async def receive(self, request: Request) -> Response:
        with LATENCY.time():
            return await self._receive(request)

    async def _receive(self, request: Request) -> Response:
        webhook_id = request.headers.get("webhook-id", "")
        body = await read_limited(request)
        if body is None:
            log.warning("webhook_too_large", webhook_id=webhook_id, limit=MAX_BODY_BYTES)
            return _answer("too_large", 413, {"error": "body over 1 MiB"})
        headers = {
            name: request.headers.get(name, "") for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        }
        if not self.verifier.verify(body, headers):
            log.warning(
                "webhook_signature_invalid",
                webhook_id=webhook_id,
                hint="check DODO_PAYMENTS_WEBHOOK_KEY matches the endpoint's secret in Dodo",
            )
            return _answer("invalid_signature", 401, {"error": "invalid signature"})
        try:
            payload = orjson.loads(body)
        except (ValueError, RecursionError):  # orjson refuses nesting past 1024 levels with a ValueError
            return _answer("bad_json", 400, {"error": "body is not JSON (or nested too deeply)"})
        event_type = payload.get("type") if isinstance(payload, dict) else None
        if not isinstance(event_type, str):
            return _answer("bad_json", 400, {"error": "body has no string field 'type'"})
        if event_type not in catalog.BY_TYPE:
            log.info("webhook_ignored", webhook_id=webhook_id, event_type=event_type)
            return _answer("ignored", 200, {"status": "ignored"})
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
            return _answer("unavailable", 503, {"error": "queue unavailable, retry later"})
        if not queued:
            log.info("webhook_duplicate", webhook_id=webhook_id, event_type=event_type)
            return _answer("duplicate", 200, {"status": "duplicate"})
        # The worker logs every queued webhook-id when it processes it; a line here too cost 8% of
        # the receiver's CPU under load (bench.ingest), so it is at debug level.
        log.debug("webhook_queued", webhook_id=webhook_id, event_type=event_type)
        return _answer("queued", 200, {"status": "queued"})
