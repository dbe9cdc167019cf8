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
    given = presented.strip().encode()
    # Compare against every token, whatever matches, so timing says nothing about which one.
    valid = False
    for token in tokens:
        valid |= hmac.compare_digest(given, token)
    if scheme.lower() != "bearer" or not valid:
        return JSONResponse(
            {"error": "missing or invalid bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return None
