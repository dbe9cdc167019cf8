"""The Dodo SDK client as the worker uses it: no SDK retries, a timeout far under the heartbeat."""

from __future__ import annotations

from dodopayments import APIConnectionError, APIStatusError, APITimeoutError, DodoPayments, DodoPaymentsError

from worker.config import Settings

# Dramatiq requeues the messages of a worker silent for 15 s (broker.HEARTBEAT_TIMEOUT_MS); a call
# that could outlast it would let a second worker run the same charge message concurrently.
CALL_TIMEOUT_SECONDS = 5.0


def make_client(settings: Settings) -> DodoPayments:
    """max_retries=0: the SDK sends no idempotency key, so a retried POST /checkouts could charge twice."""
    options: dict[str, object] = {
        "bearer_token": settings.dodo_api_key or "unset",
        "max_retries": 0,
        "timeout": CALL_TIMEOUT_SECONDS,
    }
    if settings.dodo_base_url:
        options["base_url"] = settings.dodo_base_url
    else:
        options["environment"] = settings.dodo_environment
    return DodoPayments(**options)  # type: ignore[arg-type]


def error_code(exc: DodoPaymentsError) -> str:
    """A short, secret-free code for offers and events."""
    if isinstance(exc, APITimeoutError):
        return "dodo_timeout"
    if isinstance(exc, APIConnectionError):
        return "dodo_unreachable"
    if isinstance(exc, APIStatusError):
        return f"dodo_http_{exc.status_code}"
    return "dodo_error"


def outcome_unknown(exc: DodoPaymentsError) -> bool:
    """A timeout, a cut connection or a 5xx: Dodo may have done the work. Never a reason to try
    another way to pay: only Dodo's records can say it did not happen."""
    if isinstance(exc, APITimeoutError | APIConnectionError):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code >= 500
