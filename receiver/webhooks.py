"""`POST /webhooks/dodo`: verify, classify, dedupe and enqueue, in the order docs/operations.md gives."""

from __future__ import annotations

import time

import orjson
import redis.exceptions
import structlog
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver import rates
from worker import catalog, fullness, replication, strictjson
from worker.queue.intake import Intake
from worker.signing import Verifier

PATH = "/webhooks/dodo"
MAX_BODY_BYTES = 1024 * 1024
log = structlog.get_logger("receiver")
OUTCOMES = Counter("upsell_webhooks_total", "Webhook deliveries by outcome", ["outcome"])
_full = [False]  # the last write met a full Redis: the next that succeeds clears the gauge
REDIS_FULL = Gauge("upsell_redis_full", "1 while Redis refuses writes at maxmemory (webhooks answered 503)")
LATENCY = Histogram("upsell_webhook_seconds", "Time to answer a webhook delivery")


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
        ("not_replicated", 503, {"error": "stored but not yet on enough replicas, retry later"}),
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
        rates.WEBHOOKS.count("bad_json" if outcome in ("not_json", "no_type") else outcome)
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
        except replication.NotReplicated as exc:
            log.warning("webhook_not_replicated", webhook_id=webhook_id, event_type=event_type, reason=str(exc))
            return "not_replicated"
        except redis.exceptions.RedisError as exc:
            full = _full[0] = fullness.is_full(exc)
            REDIS_FULL.set(1 if full else 0)
            log.error(
                "webhook_not_stored",
                webhook_id=webhook_id,
                event_type=event_type,
                error="redis_full" if full else type(exc).__name__,
                hint="Redis is at maxmemory: free memory or raise it; Dodo will retry"
                if full
                else "Redis unreachable; Dodo will retry",
            )
            return "unavailable"
        if _full[0]:  # Redis took a write again: no longer full
            _full[0] = False
            REDIS_FULL.set(0)
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
