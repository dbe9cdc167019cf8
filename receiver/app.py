"""The receiver's Starlette app: webhooks, health, metrics and the API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import redis
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver import auth
from receiver.api import Api
from receiver.clienttokens import Signer
from receiver.console.pages import Console
from receiver.ofrep import Ofrep
from receiver.pages import element
from receiver.pages.offer import OfferPages
from receiver.webhooks import REDIS_FULL, WebhookEndpoint, WebhookFirst
from worker import config, fullness, keys, redisconn
from worker.config import Settings
from worker.delivery.policy import Policy
from worker.dodo import make_client
from worker.offers import links
from worker.queue.intake import Intake
from worker.replication import Ack
from worker.signing import Verifier


def _metrics(tokens: tuple[bytes, ...]) -> Callable[[Request], Awaitable[Response]]:
    async def metrics(request: Request) -> Response:
        """Open unless UPSELL_METRICS_TOKEN is set (rule ids and counts are in it): for a deployment
        that cannot keep the port from the public."""
        refused = auth.check(request, tokens) if tokens else None
        return refused or Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return metrics


def _readyz(aclient: redis.asyncio.Redis) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def readyz(request: Request) -> JSONResponse:
        """Ready when Redis answers and takes a write (a small key that expires): a Redis at
        maxmemory answers PING but refuses every webhook."""
        try:
            await aclient.set(keys.READY_PROBE, "1", ex=60)
        except redis.RedisError as exc:
            full = fullness.is_full(exc)
            REDIS_FULL.set(1 if full else 0)
            return JSONResponse({"status": "redis full" if full else "redis unavailable"}, status_code=503)
        REDIS_FULL.set(0)
        return JSONResponse({"status": "ready"})

    return readyz


def create_app(settings: Settings) -> WebhookFirst:
    ack = Ack(settings.ack_replicas, settings.ack_timeout_ms)
    timeout = 2 + ack.timeout_ms / 1000 if ack.replicas else 2  # a WAIT may take the ack timeout
    aclient = redisconn.connect_async(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=2)
    client = redisconn.connect(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=2, decode_responses=True
    )
    intake = Intake(aclient, settings.inbound_retention_seconds, ack)
    follower = redisconn.connect_async(settings.redis_url, socket_timeout=15, socket_connect_timeout=2)  # XREAD BLOCK
    webhook = WebhookEndpoint(Verifier(settings.webhook_secrets), intake)
    dodo = make_client(settings)
    signer = Signer(client)
    links.share(client)  # offer links signed with the key every process shares, unless configured
    api = Api(
        client,
        settings.api_tokens,
        settings.events_stream,
        dodo,
        settings.rules_dir,
        intake,
        ack,
        signer,
        settings.client_origins,
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await aclient.aclose()
        await follower.aclose()
        client.close()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", _readyz(aclient)),
        Route("/metrics", _metrics(tuple(token.encode() for token in settings.metrics_tokens))),
        *api.routes(),
        *Ofrep(api, follower, settings).routes(),
        *OfferPages(api).routes(),
        *element.routes(),
    ]
    if settings.console_tokens:  # off unless configured: /console is then a 404
        policy = Policy.of(settings)
        mode, zone = config.dodo_mode(settings), settings.console_timezone
        routes += Console(client, settings.console_tokens, api.book, mode, policy, zone).routes()
    return WebhookFirst(webhook, Starlette(routes=routes, lifespan=lifespan))
