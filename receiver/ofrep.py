"""OpenFeature's remote evaluation protocol (OFREP) over a customer's access, so any OpenFeature
provider, in any language, asks "may this customer use X" with no SDK of ours.

`POST /ofrep/v1/evaluate/flags/{key}` and `POST /ofrep/v1/evaluate/flags` (ETag, 304,
`eventStreams`), the customer being `context.targetingKey`; flags from worker/access/flags.py.
Credentials: an API token (`Authorization: Bearer` or `X-API-Key`), or a client token bound to one
customer (scope `flags`); browsers from `UPSELL_CLIENT_ORIGINS` get CORS on the routes a client
token may use. `POST /api/customers/{id}/client-tokens` mints those tokens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import redis
import redis.asyncio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver import auth, clienttokens, cors, eventstream
from receiver.api import Api
from receiver.webhooks import read_body
from worker import keys
from worker.access import flags, grants
from worker.access.state import AccessState
from worker.config import Settings

MAX_BODY = 16 * 1024
CLIENT_RATE = 20  # evaluations a second per customer holding a client token, per receiver process


class Caller:
    """Who is asking: an API token (any customer), or a client token (one customer)."""

    def __init__(self, customer_id: str | None) -> None:
        self.customer_id = customer_id  # None: an API token

    def may_read(self, customer_id: str) -> bool:
        return self.customer_id is None or self.customer_id == customer_id


class Ofrep:
    def __init__(self, api: Api, follower: redis.asyncio.Redis, settings: Settings) -> None:
        """On the API's Redis client, tokens, rules and client-token signer; `follower` is the
        connection the event streams' reader blocks on."""
        self.client, self.tokens, self.live, self.signer = api.client, api.tokens, api.book, api.signer
        self.origins = settings.client_origins
        self.calls: dict[str, tuple[int, int]] = {}  # customer -> (second, calls in it), client tokens only
        self.fanout = eventstream.Fanout(follower, settings.events_stream, self.etag_of, settings.event_streams_max)

    async def etag_of(self, customer_id: str) -> str:
        config, state, known = await run_in_threadpool(self.state, customer_id)
        return flags.etag(config, customer_id, state, known)

    async def events(self, request: Request) -> Response:
        """`GET /ofrep/v1/events?customer_id=...&token=...`: a client token for that customer (in the
        URL, as EventSource cannot send headers), or an API token (then `customer_id` is optional:
        without it, every customer's changes)."""
        token = request.query_params.get("token", "").encode()
        caller = self.caller(request, "flags", token or None)
        if isinstance(caller, Response):
            return caller
        customer_id = request.query_params.get("customer_id", "") or caller.customer_id or eventstream.EVERYONE
        if not caller.may_read(customer_id):
            return JSONResponse({"error": "this client token is for another customer"}, status_code=403)
        return self.fanout.answer(customer_id, eventstream.resume_point(request))

    def caller(self, request: Request, scope: str, given: bytes | None = None) -> Caller | Response:
        """The caller, or the refusal: 401 with no valid credential, 403 for a token without `scope`."""
        given = given or auth.presented(request)
        if auth.valid(given, self.tokens):
            return Caller(None)
        claims = self.signer.verify(given.decode(errors="replace"))
        if claims is None:
            return _error(401, "GENERAL", "a valid API token or client token is needed", None)
        if scope not in claims.scopes:
            return _error(403, "GENERAL", f"this client token has no {scope!r} scope", None)
        if not self._within_rate(claims.customer_id):
            refused = _error(429, "GENERAL", f"more than {CLIENT_RATE} calls a second with this client token", None)
            refused.headers["Retry-After"] = "1"
            return refused
        return Caller(claims.customer_id)

    def _within_rate(self, customer_id: str) -> bool:
        """A browser is a client we do not control: a page in a loop gets 429, never the receiver."""
        second = int(time.monotonic())
        if len(self.calls) > 100_000:
            self.calls.clear()
        at, count = self.calls.get(customer_id, (second, 0))
        count = count + 1 if at == second else 1
        self.calls[customer_id] = (second, count)
        return count <= CLIENT_RATE

    async def context(self, request: Request, key: str | None) -> tuple[Caller, str] | Response:
        """The caller and the customer (`context.targetingKey`), or the OFREP error answer."""
        caller = self.caller(request, "flags")
        if isinstance(caller, Response):
            return caller
        raw = await read_body(request.receive, request.headers.get("content-length", ""), MAX_BODY)
        try:
            body = json.loads(raw) if raw else None
            context = body.get("context") if isinstance(body, dict) else None
        except ValueError:
            context = None
        if not isinstance(context, dict):
            return _error(400, "PARSE_ERROR", 'the body must be JSON {"context": {"targetingKey": ...}}', key)
        customer_id = context.get("targetingKey")
        if not isinstance(customer_id, str) or not customer_id:
            return _error(400, "TARGETING_KEY_MISSING", "context.targetingKey must be the customer id", key)
        if not caller.may_read(customer_id):
            return _error(403, "INVALID_CONTEXT", "this client token is for another customer", key)
        return caller, customer_id

    def state(self, customer_id: str) -> tuple[Any, AccessState, bool]:
        """The policy, the customer's access as it counts now, and whether they are known here."""
        config = self.live().get().access
        stored = self.client.get(keys.access(customer_id))
        return config, grants.current(config, AccessState.loads(stored), time.time()), stored is not None

    async def one(self, request: Request) -> Response:
        key = request.path_params["key"]
        found = await self.context(request, key)
        if isinstance(found, Response):
            return found
        config, state, known = await run_in_threadpool(self.state, found[1])
        item = flags.evaluate(config, state, key, known)
        if item is None:
            return _error(404, "FLAG_NOT_FOUND", f"{key!r} is not a feature, limit.<name>, credits.<id> or tier", key)
        return JSONResponse(item)

    async def every(self, request: Request) -> Response:
        found = await self.context(request, None)
        if isinstance(found, Response):
            return found
        caller, customer_id = found
        config, state, known = await run_in_threadpool(self.state, customer_id)
        tag = flags.etag(config, customer_id, state, known)
        asked = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}
        if tag in asked or "*" in asked:
            return Response(status_code=304, headers={"ETag": tag})
        stream = await run_in_threadpool(self.stream_url, request, caller, customer_id)
        answer = {"flags": flags.bulk(config, state, known), "eventStreams": [{"type": "sse", "url": stream}]}
        return JSONResponse(answer, headers={"ETag": tag})

    def stream_url(self, request: Request, caller: Caller, customer_id: str) -> str:
        """The customer's event stream; its credential is a client token (never the API token)."""
        token, _ = self.signer.mint(customer_id, clienttokens.DEFAULT_SECONDS, ("flags",))
        base = str(request.base_url).rstrip("/")
        return f"{base}/ofrep/v1/events?customer_id={quote(customer_id)}&token={token}"

    async def mint(self, request: Request) -> Response:
        """`POST /api/customers/{id}/client-tokens` (API token): `{"ttl"?: "1h", "scopes"?: [...]}`."""
        if not auth.valid(auth.presented(request), self.tokens):
            return auth.check(request, self.tokens) or JSONResponse({"error": "API token needed"}, status_code=401)
        raw = await read_body(request.receive, request.headers.get("content-length", ""), MAX_BODY)
        if raw is None:
            return JSONResponse({"error": f"the body is over {MAX_BODY // 1024} KiB"}, status_code=400)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        seconds = clienttokens.lifetime(body.get("ttl"))
        scopes = body.get("scopes", list(clienttokens.SCOPES))
        if seconds is None:
            return JSONResponse({"error": "ttl: 60s to 24h (seconds, or 90s, 30m, 1h)"}, status_code=400)
        known = isinstance(scopes, list) and all(isinstance(x, str) and x in clienttokens.SCOPES for x in scopes)
        if not known or not scopes:
            return JSONResponse({"error": f"scopes: a non-empty list of {list(clienttokens.SCOPES)}"}, status_code=400)
        customer_id = request.path_params["customer_id"]
        token, expires = await run_in_threadpool(self.signer.mint, customer_id, seconds, tuple(scopes))
        expires_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        return JSONResponse({"token": token, "expires_at": expires_at, "customer_id": customer_id, "scopes": scopes})

    def routes(self) -> list[Route]:
        wrap: Callable[[Callable[[Request], Awaitable[Response]]], Any] = lambda h: cors.allowing(self.origins, h)  # noqa: E731
        return [
            Route("/ofrep/v1/evaluate/flags/{key:path}", wrap(self.one), methods=["POST", "OPTIONS"]),
            Route("/ofrep/v1/evaluate/flags", wrap(self.every), methods=["POST", "OPTIONS"]),
            Route("/ofrep/v1/events", wrap(self.events), methods=["GET", "OPTIONS"]),
            Route("/api/customers/{customer_id}/client-tokens", self.mint, methods=["POST"]),
        ]


def _error(status: int, code: str, details: str, key: str | None) -> JSONResponse:
    body: dict[str, Any] = {"errorCode": code, "errorDetails": details}
    return JSONResponse(body | ({"key": key} if key is not None else {}), status_code=status)
