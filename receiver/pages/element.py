"""`/static/upsell-offers.js`: the `<upsell-offers>` custom element (built from TypeScript in
clients/typescript and committed here by `python3 tasks.py client`), for apps to show a customer's
offers in place. A module script from another origin is fetched with CORS, hence `*`: the file is
public and carries no credentials."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ELEMENT = Path(__file__).parent / "static" / "upsell-offers.js"
PATH = "/static/upsell-offers.js"


@cache
def _body() -> tuple[bytes, str]:
    body = ELEMENT.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:16]}"'


async def element(request: Request) -> Response:
    body, etag = _body()
    headers = {"etag": etag, "cache-control": "public, max-age=300", "access-control-allow-origin": "*"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


def routes() -> list[Route]:
    return [Route(PATH, element, methods=["GET", "HEAD"])]
