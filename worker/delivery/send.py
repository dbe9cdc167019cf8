"""One signed POST to an endpoint, as Dodo sends to us: Standard Webhooks headers, `webhook-id`
the event id (receivers deduplicate on it), bounded in time and in what we read back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx

from worker import signing
from worker.delivery.endpoints import Endpoint

CONNECT_SECONDS = 5.0
TIMEOUT_SECONDS = 10.0  # the contract's limit for an answer
MAX_ANSWER_BYTES = 4096  # a receiver's reply is read this far, never whole

_client = httpx.Client(
    timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_SECONDS),
    follow_redirects=False,
    limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
    headers={"user-agent": "dodo-upsell-webhooks"},
)


def signed(endpoint: Endpoint, event: dict[str, Any], at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
    return payload, signing.signed_headers(endpoint.secret, event["id"], payload, at)


def post(endpoint: Endpoint, event: dict[str, Any]) -> str:
    """`http_<status>` for any answer, or the failure (`timeout`, `connect_error`, ...). Whatever
    raises (a host name the IDNA codec refuses, say) is a failed attempt, retried on the backoff,
    never an exception that would leave the customer's list with nothing scheduled to move it."""
    content, headers = signed(endpoint, event)
    try:
        with _client.stream("POST", endpoint.url, content=content, headers=headers) as answer:
            read = 0
            for chunk in answer.iter_raw():
                read += len(chunk)
                if read >= MAX_ANSWER_BYTES:
                    break
            return f"http_{answer.status_code}"
    except httpx.TimeoutException:
        return "timeout"
    except httpx.ConnectError:
        return "connect_error"
    except httpx.HTTPError as exc:
        return type(exc).__name__.lower()
    except Exception as exc:
        return f"error_{type(exc).__name__.lower()}"
