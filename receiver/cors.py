"""CORS for the routes a browser may call with a client token, from `UPSELL_CLIENT_ORIGINS` only:
any other origin gets no CORS headers, so the browser keeps the answer from its page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

ALLOWED_HEADERS = "authorization, content-type, if-none-match, last-event-id, x-api-key"
MAX_AGE = "600"


def allowing(
    origins: tuple[str, ...], handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """The handler with CORS: a preflight answered 204, and each answer to a listed origin marked."""

    async def endpoint(request: Request) -> Response:
        origin = request.headers.get("origin", "")
        allowed = origin in origins
        if request.method == "OPTIONS":
            answer = Response(status_code=204 if allowed else 403)
        else:
            answer = await handler(request)
        if allowed:
            answer.headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Expose-Headers": "ETag, Retry-After",
                    "Access-Control-Max-Age": MAX_AGE,
                    "Vary": "Origin",
                }
            )
        return answer

    return endpoint
