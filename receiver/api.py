"""`/api/...`: what the merchant's app reads and asks for, behind bearer tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
import redis
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from receiver import auth
from dodopayments import DodoPayments, DodoPaymentsError

from worker import charge, dodo, grants, offers
from worker.rules import PRORATION_MODES

Handler = Callable[[Request], JSONResponse]


def not_found() -> JSONResponse:
    return JSONResponse({"error": "no such offer"}, status_code=404)


class Api:
    def __init__(self, client: redis.Redis, tokens: tuple[str, ...], stream: str, api: DodoPayments) -> None:
        self.client = client
        self.stream = stream
        self.dodo = api
        self.tokens = tuple(t.encode() for t in tokens)

    def guarded(self, handler: Handler) -> Handler:
        def endpoint(request: Request) -> JSONResponse:
            refused = auth.check(request, self.tokens)
            if refused is not None:
                return refused
            try:
                return handler(request)
            except redis.RedisError:
                return JSONResponse({"error": "store unavailable, retry later"}, status_code=503)
        return endpoint

    def access(self, request: Request) -> JSONResponse:
        customer_id = request.path_params["customer_id"]
        return JSONResponse(grants.view(customer_id, grants.read(self.client, customer_id)))

    def customer_offers(self, request: Request) -> JSONResponse:
        customer_id = request.path_params["customer_id"]
        return JSONResponse({"customer_id": customer_id, "offers": offers.for_customer(self.client, customer_id)})

    def _visible(self, request: Request) -> dict[str, Any] | None:
        """The offer, unless absent or the app scoped the call to another customer (?customer_id=)."""
        offer = offers.get(self.client, request.path_params["offer_id"])
        scope = request.query_params.get("customer_id")
        if offer is None or (scope is not None and scope != offer["customer_id"]):
            return None
        return offer

    def offer(self, request: Request) -> JSONResponse:
        offer = self._visible(request)
        return JSONResponse(offer) if offer else not_found()

    def decline(self, request: Request) -> JSONResponse:
        if self._visible(request) is None:
            return not_found()
        moved, offer = offers.transition(self.client, self.stream, request.path_params["offer_id"], "declined", event_type="offer.declined")
        assert offer is not None
        if not moved:
            return JSONResponse({"error": f"offer is {offer['state']}, only a pending offer can be declined", "offer": offer}, status_code=409)
        return JSONResponse(offer)

    def accept(self, request: Request) -> JSONResponse:
        """202 once charging; again later or concurrently: 202 with the state, never a second charge."""
        if self._visible(request) is None:
            return not_found()
        moved, offer = offers.transition(self.client, self.stream, request.path_params["offer_id"], "charging",
                                         event_type="offer.accepted", also=charge.schedule_reconcile)
        assert offer is not None
        if moved or offer["state"] in ("charging", "converted"):
            return JSONResponse(offer, status_code=202)
        reason = {"declined": "the offer was declined", "expired": "the offer expired",
                  "failed": "the charge failed and is not retried: use checkout_url"}[offer["state"]]
        return JSONResponse({"error": reason, "offer": offer}, status_code=409)

    def change_preview(self, request: Request) -> JSONResponse:
        product_id = request.query_params.get("product_id")
        proration = request.query_params.get("proration", "prorated_immediately")
        quantity = request.query_params.get("quantity", "1")
        if not product_id or proration not in PRORATION_MODES or not quantity.isdigit() or int(quantity) < 1:
            return JSONResponse({"error": f"need product_id; proration one of {list(PRORATION_MODES)}; quantity >= 1"}, status_code=400)
        wanted = {"product_id": product_id, "quantity": int(quantity), "proration": proration}
        try:
            return JSONResponse({"subscription_id": request.path_params["subscription_id"], **wanted,
                                 "quote": charge.quote(self.dodo, wanted, request.path_params["subscription_id"])})
        except DodoPaymentsError as exc:
            status = getattr(exc, "status_code", 502)
            return JSONResponse({"error": f"Dodo answered {dodo.error_code(exc)}"}, status_code=404 if status == 404 else 502)

    def routes(self) -> list[Route]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/api/customers/{customer_id}/access", self.access, ["GET"]),
            ("/api/customers/{customer_id}/offers", self.customer_offers, ["GET"]),
            ("/api/offers/{offer_id}", self.offer, ["GET"]),
            ("/api/offers/{offer_id}/decline", self.decline, ["POST"]),
            ("/api/offers/{offer_id}/accept", self.accept, ["POST"]),
            ("/api/subscriptions/{subscription_id}/change-preview", self.change_preview, ["GET"]),
        ]
        return [Route(path, self.guarded(handler), methods=methods) for path, handler, methods in table]

