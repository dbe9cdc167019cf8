"""`/api/...`: what the merchant's app reads and asks for, behind bearer tokens."""

from __future__ import annotations

from collections.abc import Callable
import redis
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from receiver import auth
from worker import grants, offers

Handler = Callable[[Request], JSONResponse]


class Api:
    def __init__(self, client: redis.Redis, tokens: tuple[str, ...], stream: str) -> None:
        self.client = client
        self.stream = stream
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

    def offer(self, request: Request) -> JSONResponse:
        offer = offers.get(self.client, request.path_params["offer_id"])
        if offer is None:
            return JSONResponse({"error": "no such offer"}, status_code=404)
        return JSONResponse(offer)

    def decline(self, request: Request) -> JSONResponse:
        offer_id = request.path_params["offer_id"]
        moved, offer = offers.transition(self.client, self.stream, offer_id, "declined", event_type="offer.declined")
        if offer is None:
            return JSONResponse({"error": "no such offer"}, status_code=404)
        if not moved:
            return JSONResponse({"error": f"offer is {offer['state']}, only a pending offer can be declined", "offer": offer}, status_code=409)
        return JSONResponse(offer)

    def routes(self) -> list[Route]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/api/customers/{customer_id}/access", self.access, ["GET"]),
            ("/api/customers/{customer_id}/offers", self.customer_offers, ["GET"]),
            ("/api/offers/{offer_id}", self.offer, ["GET"]),
            ("/api/offers/{offer_id}/decline", self.decline, ["POST"]),
        ]
        return [Route(path, self.guarded(handler), methods=methods) for path, handler, methods in table]

