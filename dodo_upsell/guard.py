"""A Starlette (or FastAPI) guard: the endpoint runs only for a customer the flag is on for;
anyone else gets 402 with what would unlock it (the products access.yaml says grant it)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Endpoint = Callable[[Request], Awaitable[Response]]


def requires(
    flag: str, customer_of: Callable[[Request], str | None], domain: str | None = None
) -> Callable[[Endpoint], Endpoint]:
    """`@requires("course_rust", lambda request: request.session["customer_id"])`; `domain`: the
    OpenFeature domain the provider was set for (the default provider if none)."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            customer_id = customer_of(request)
            context = EvaluationContext(targeting_key=customer_id) if customer_id else None
            found = api.get_client(domain).get_boolean_details(flag, False, context)
            if found.value is True:
                return await endpoint(request)
            unlocked_by = [p for p in str(found.flag_metadata.get("granted_by", "")).split(",") if p]
            said = {"error": f"{flag} is not in this customer's plan", "flag": flag, "unlocked_by": unlocked_by}
            return JSONResponse(said, status_code=402)

        return guarded

    return wrap
