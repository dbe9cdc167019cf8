"""`/api/...`: what the merchant's app reads and asks for, behind bearer tokens."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
from dodopayments import DodoPayments, DodoPaymentsError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from receiver import auth, clienttokens, cors, openapi, query, refusals, settling, waiting
from receiver.dodolane import DodoBusy, DodoLane
from receiver.preview import Preview
from receiver.webhooks import read_body
from worker import archive, dodo, events, keys, products
from worker.access import grants
from worker.book import LiveBook
from worker.offers import app_events, display, eligibility, store
from worker.offers.model import Offer
from worker.queue import messages
from worker.queue.intake import Intake
from worker.replication import Ack
from worker.stats import report

Handler = Callable[[Request], JSONResponse] | Callable[[Request], Awaitable[JSONResponse]]
DISPLAY_TIMEOUT_SECONDS = 1.5  # an offer read shows what is stored rather than wait longer for Dodo


def not_found() -> JSONResponse:
    return JSONResponse({"error": "no such offer"}, status_code=404)


class Api:
    def __init__(
        self,
        client: redis.Redis,
        tokens: tuple[str, ...],
        stream: str,
        api: DodoPayments,
        rules_dir: Path,
        intake: Intake,
        ack: Ack | None = None,
        signer: clienttokens.Signer | None = None,
        origins: tuple[str, ...] = (),
    ) -> None:
        self.client = client
        self.stream = stream
        self.dodo = api
        self.lane = DodoLane()
        self.waiters = waiting.Waiters()
        self.display_dodo = api.with_options(timeout=DISPLAY_TIMEOUT_SECONDS)  # reads never wait long on Dodo
        self.tokens = tuple(t.encode() for t in tokens)
        self.rules_dir = rules_dir
        self._book: LiveBook | None = None
        self.intake = intake  # app events are queued like webhooks, in one atomic step
        self.ack = ack or Ack()  # replicas an accept or decline must reach before its answer
        self.signer, self.origins = signer or clienttokens.Signer(client), origins  # client tokens (scope offers)

    def book(self) -> LiveBook:
        """The rules (for access.yaml's policy), loaded on first need and hot reloaded like the worker's."""
        if self._book is None:
            self._book = LiveBook(self.rules_dir, owner="web")
            self._book.start()
        return self._book

    def stats(self, request: Request) -> JSONResponse:
        """What each rule and variant earned over a window (default the last 7 days), from counters."""
        params = request.query_params
        try:
            since = report.parse_moment(params.get("since", "7d"))
            until = report.parse_moment(params.get("until", "0d"))
            return JSONResponse(report.report(self.client, since, until, params.get("rule")))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def app_event(self, request: Request) -> JSONResponse:
        """The app's own moment, stored (deduplicated on Idempotency-Key) before the answer."""
        customer_id, key = request.path_params["customer_id"], request.headers.get("idempotency-key", "")
        if not app_events.IDEMPOTENCY_KEY.fullmatch(key):
            error = "need an Idempotency-Key header: 1 to 200 visible ASCII characters, the same on every retry"
            return JSONResponse({"error": error}, status_code=400)
        body = await read_body(request.receive, request.headers.get("content-length", ""), app_events.MAX_BODY_BYTES)
        if body is None:
            return JSONResponse({"error": f"body over {app_events.MAX_BODY_BYTES // 1024} KiB"}, status_code=413)
        try:
            event_type, _ = app_events.parse(body)
        except app_events.BadEvent as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        event_id = "app_" + events.stable_id(customer_id, key).replace("-", "")
        message = messages.app_event(event_id, customer_id, body.decode())
        seen = keys.app_seen(customer_id, key)
        archived = ("event_id", event_id, "customer_id", customer_id, "type", event_type, "bodyz", archive.pack(body))
        queued = await self.intake.enqueue_message(seen, messages.redis_id(message), message.encode(), archived)
        answer = {"status": "queued" if queued else "duplicate", "event_id": event_id, "type": event_type}
        return JSONResponse(answer, status_code=202 if queued else 200)

    async def eligibility(self, request: Request) -> JSONResponse:
        """Could this customer take `product_id` with one click now? The charge asks the same."""
        customer_id, product_id = request.path_params["customer_id"], request.query_params.get("product_id")
        if not product_id:
            return JSONResponse({"error": "need ?product_id="}, status_code=400)
        access = self.book().get().access  # a broken first load raises ProblemsFound: 503 naming the file
        window = access.policy.suppress_offers_after_refund
        state = await run_in_threadpool(grants.read, self.client, access, customer_id)
        try:
            await self.lane.call(products.info, self.display_dodo, product_id)
            answer = await self.lane.call(eligibility.check, self.dodo, customer_id, state, product_id, window)
        except DodoPaymentsError as exc:
            code = dodo.error_code(exc)
            if getattr(exc, "status_code", None) == 404:
                return JSONResponse({"error": f"Dodo knows no product {product_id[:80]!r}", "code": code}, 404)
            return JSONResponse({"error": f"Dodo answered {code}", "code": code}, status_code=502)
        return JSONResponse({"customer_id": customer_id, "product_id": product_id, **answer.view()})

    def guarded(self, handler: Handler, client: bool = False) -> Callable[[Request], Awaitable[JSONResponse]]:
        """API tokens; with `client`, also a client token with the `offers` scope, for its own
        customer's offers only (another customer's offer is then a 404, as with ?customer_id=)."""

        async def endpoint(request: Request) -> JSONResponse:
            refused = auth.check(request, self.tokens)
            if refused is not None and client:
                refused = clienttokens.offers_caller(request, self.signer, refused)
            if refused is not None:
                return refused
            try:
                if inspect.iscoroutinefunction(handler):
                    return await handler(request)
                return await run_in_threadpool(handler, request)  # type: ignore[arg-type]
            except refusals.REFUSED as exc:
                return refusals.answer(exc)

        return endpoint

    def access(self, request: Request) -> JSONResponse:
        customer_id = request.path_params["customer_id"]
        stored = self.client.get(keys.access(customer_id))
        return JSONResponse(grants.view(self.book().get().access, stored, customer_id))

    def access_page(self, request: Request) -> JSONResponse:
        """Every customer's access, a page at a time, for a consumer bootstrapping before it follows events."""
        limit = query.limit(request, 100, 1000)
        if limit is None:
            return JSONResponse({"error": "limit must be 1..1000"}, status_code=400)
        cursor = request.query_params.get("cursor", "")
        items, next_cursor = grants.page(self.client, self.book().get().access, cursor, limit)
        return JSONResponse({"items": items, "next_cursor": next_cursor})

    async def customer_offers(self, request: Request) -> JSONResponse:
        """Oldest first, `?limit=` (1..100, 100 by default) a page, `?cursor=` from `next_cursor`.
        `?wait=2s`: as soon as the page holds a pending offer, or with what there is at the end."""
        customer_id = request.path_params["customer_id"]
        most = query.MAX_OFFERS_PAGE
        limit, cursor = query.limit(request, most, most), request.query_params.get("cursor", "0")
        if limit is None or not re.fullmatch(r"[0-9]{1,9}", cursor):
            error = f"limit must be 1..{query.MAX_OFFERS_PAGE}; cursor a next_cursor"
            return JSONResponse({"error": error}, status_code=400)
        wait = waiting.parse(request.query_params.get("wait"))
        found, next_cursor = await self.waiters.until(
            wait,
            lambda: run_in_threadpool(store.page, self.client, customer_id, int(cursor), limit),
            lambda page: any(o.state == "pending" for o in page[0]),
        )
        shown = await asyncio.gather(*(self.shown(o) for o in found))  # side by side in Dodo's lane
        more = None if next_cursor is None else str(next_cursor)
        return JSONResponse({"customer_id": customer_id, "offers": shown, "next_cursor": more})

    async def shown(self, offer: Offer) -> dict[str, Any]:
        """The offer with its display brought up to date, if Dodo answers quickly; as stored if not."""
        try:
            return await self.lane.call(display.for_app, self.display_dodo, offer, self.client)
        except DodoBusy:
            return offer.view()

    def _visible(self, request: Request) -> Offer | None:
        """The offer, unless absent or the app scoped the call to another customer (?customer_id=)."""
        offer = store.get(self.client, request.path_params["offer_id"])
        scope = request.scope.get(clienttokens.CUSTOMER) or request.query_params.get("customer_id")
        if offer is None or (scope is not None and scope != offer.customer_id):
            return None
        return offer

    async def offer(self, request: Request) -> JSONResponse:
        offer = await run_in_threadpool(self._visible, request)
        if offer is None:
            return not_found()
        return JSONResponse(await self.shown(offer))

    def decline(self, request: Request) -> JSONResponse:
        offer = self._visible(request)
        return not_found() if offer is None else settling.decline(self, offer)

    async def accept(self, request: Request) -> JSONResponse:
        wait = waiting.parse(request.query_params.get("wait"))  # a bad one is 400 before anything moves
        offer = await run_in_threadpool(self._visible, request)
        return not_found() if offer is None else await settling.accept(self, offer, wait)

    def routes(self) -> list[Route]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/api/access", self.access_page, ["GET"]),
            ("/api/stats", self.stats, ["GET"]),
            ("/api/customers/{customer_id}/access", self.access, ["GET"]),
            ("/api/customers/{customer_id}/offers", self.customer_offers, ["GET"]),
            ("/api/offers/{offer_id}", self.offer, ["GET"]),
            ("/api/offers/{offer_id}/decline", self.decline, ["POST"]),
            ("/api/offers/{offer_id}/accept", self.accept, ["POST"]),
            (
                "/api/subscriptions/{subscription_id}/change-preview",
                Preview(self.lane, self.dodo).change_preview,
                ["GET"],
            ),
            ("/api/customers/{customer_id}/eligibility", self.eligibility, ["GET"]),
            ("/api/customers/{customer_id}/events", self.app_event, ["POST"]),
            ("/api/openapi.json", lambda request: JSONResponse(openapi.document()), ["GET"]),
        ]
        browsers = (self.customer_offers, self.offer, self.decline, self.accept)  # client tokens, CORS
        return [
            Route(path, cors.allowing(self.origins, self.guarded(handler, True)), methods=[*methods, "OPTIONS"])
            if handler in browsers
            else Route(path, self.guarded(handler), methods=methods)
            for path, handler, methods in table
        ]
