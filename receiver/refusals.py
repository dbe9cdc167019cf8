"""The API's answers to what stops a request midway: Redis, replication, the rules, waits, Dodo's lane."""

from __future__ import annotations

import redis
from starlette.responses import JSONResponse

from receiver import waiting
from receiver.dodolane import DodoBusy
from worker import fullness
from worker.folder import yamlsource
from worker.replication import NotReplicated

RETRY_SOON = {"retry-after": "1"}
# What `answer` turns into a response; anything else is a bug and a 500.
REFUSED = (redis.RedisError, yamlsource.ProblemsFound, waiting.BadWait, waiting.TooManyWaiters, DodoBusy)


def answer(exc: Exception) -> JSONResponse:
    """The response for one of REFUSED, an error the caller can act on."""
    if isinstance(exc, NotReplicated):
        error = {"error": f"stored but not yet replicated, retry: {exc}", "code": "not_replicated"}
        return JSONResponse(error, status_code=503, headers=RETRY_SOON)
    if fullness.is_full(exc):
        error = {
            "error": "the store is full (Redis at maxmemory): nothing was changed, retry later",
            "code": "redis_full",
        }
        return JSONResponse(error, status_code=503, headers={"retry-after": "30"})
    if isinstance(exc, redis.RedisError):
        return JSONResponse({"error": "store unavailable, retry later"}, status_code=503)
    if isinstance(exc, yamlsource.ProblemsFound):
        first = exc.problems[0] if exc.problems else "see `dodo-upsell rules check`"
        return JSONResponse({"error": f"the rule files are unusable: {first}"}, status_code=503)
    if isinstance(exc, waiting.BadWait):
        return JSONResponse({"error": str(exc)}, status_code=400)
    if isinstance(exc, waiting.TooManyWaiters):
        error = {"error": "too many requests waiting, retry shortly", "code": "waiters_busy"}
        return JSONResponse(error, status_code=503, headers=RETRY_SOON)
    assert isinstance(exc, DodoBusy), exc
    error = {"error": "too many Dodo calls in flight, retry shortly", "code": "dodo_busy"}
    return JSONResponse(error, status_code=503, headers=RETRY_SOON)
