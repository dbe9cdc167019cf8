"""Bearer tokens for `/api/...`: no tokens configured means closed (503), never open."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse


def check(request: Request, tokens: tuple[bytes, ...]) -> JSONResponse | None:
    """None when the request carries a valid token; otherwise the answer to send."""
    if not tokens:
        return JSONResponse({"error": "API disabled: set UPSELL_API_TOKENS"}, status_code=503)
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not valid(presented.strip().encode(), tokens):
        return JSONResponse(
            {"error": "missing or invalid bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return None


def presented(request: Request) -> bytes:
    """The credential a request carries: `Authorization: Bearer ...`, else `X-API-Key` (OFREP's two)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given.strip():
        return given.strip().encode()
    return request.headers.get("x-api-key", "").strip().encode()


def valid(given: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Whether `given` is one of the API tokens, compared against every one, whatever matches, so
    timing says nothing about which one."""
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given, token)
    return bool(given) and found
