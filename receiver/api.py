"""`/api/...`: what the merchant's app reads and asks for, behind bearer tokens."""

from __future__ import annotations

from collections.abc import Callable
import redis
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from receiver import auth
from worker import grants

Handler = Callable[[Request], JSONResponse]


class Api:
    def __init__(self, client: redis.Redis, tokens: tuple[str, ...]) -> None:
        self.client = client
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

    def routes(self) -> list[Route]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/api/customers/{customer_id}/access", self.access, ["GET"]),
        ]
        return [Route(path, self.guarded(handler), methods=methods) for path, handler, methods in table]

