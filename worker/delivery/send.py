"""One signed POST to an endpoint, as Dodo sends to us: Standard Webhooks headers, `webhook-id`
the event id (receivers deduplicate on it), bounded in time and in what we read back."""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from worker import signing
from worker.delivery import addresses
from worker.delivery.endpoints import Endpoint

CONNECT_SECONDS = 5.0
TIMEOUT_SECONDS = 10.0  # the contract's limit for an answer: httpx applies it to each read
ATTEMPT_SECONDS = 15.0  # connect, send and answer together: a peer dripping a byte at a time stops here
MAX_ANSWER_BYTES = 4096  # a receiver's reply is read this far, never whole

# A fresh connection per attempt: its socket is known from the start, so the attempt's deadline can
# cut it wherever the exchange is (a kept-alive connection's socket is never shown to us).
_client = httpx.Client(
    timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_SECONDS),
    follow_redirects=False,
    limits=httpx.Limits(max_connections=64, max_keepalive_connections=0),
    headers={"user-agent": "dodo-upsell-webhooks"},
)


class Deadline:
    """Shuts the attempt's socket ATTEMPT_SECONDS after it starts: the blocked read then returns."""

    def __init__(self, seconds: float) -> None:
        self.passed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def trace(self, name: str, info: dict[str, Any]) -> None:
        if name == "connection.connect_tcp.complete":
            self._sockets.append(info["return_value"].get_extra_info("socket"))
            if self.passed.is_set():
                self._cut()

    def _cut(self) -> None:
        self.passed.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()


@dataclass(frozen=True)
class Answer:
    """How an attempt went: `http_<status>` or the failure's class (`timeout`, `refused`, `tls`,
    `dns`, `forbidden_address`, ...), the consumer's `Retry-After` in seconds (429 and 503 only),
    whether it asked us to stop retrying (`webhook-delivery: abort`), the first MAX_ANSWER_BYTES
    of what it answered, and how long the attempt took."""

    outcome: str
    retry_after: float | None = None
    abort: bool = False
    excerpt: str = ""
    duration_ms: float = 0.0


def signed(endpoint: Endpoint, event: dict[str, Any], at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    """Signed with the endpoint's secret, and during a rotation with the previous one too: one
    `v1,` signature each, so a consumer verifying with either accepts it."""
    payload = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
    headers = signing.signed_headers(endpoint.secret, event["id"], payload, at)
    for secret in endpoint.previous_secrets(at):
        also = signing.signed_headers(secret, event["id"], payload, at)["webhook-signature"]
        headers["webhook-signature"] += " " + also
    return payload, headers


def post(endpoint: Endpoint, event: dict[str, Any]) -> Answer:
    """One attempt. Whatever raises (a host name the IDNA codec refuses, say) is a failed attempt,
    retried on the backoff, never an exception that would leave the customer's list with nothing
    scheduled to move it. The address is checked first (addresses.py): a refused one is never
    connected to."""
    started = time.perf_counter()
    content, headers = signed(endpoint, event)
    with Deadline(ATTEMPT_SECONDS) as deadline:
        answer = _exchange(endpoint, content, headers, deadline)
    timed_out = deadline.passed.is_set() and not answer.outcome.startswith("http_")
    took = round((time.perf_counter() - started) * 1000, 1)
    return dataclasses.replace(Answer("timeout") if timed_out else answer, duration_ms=took)


def _exchange(endpoint: Endpoint, content: bytes, headers: dict[str, str], deadline: Deadline) -> Answer:
    try:
        pinned = addresses.pin(endpoint.url, endpoint.allow_private)
        extensions: dict[str, Any] = {"trace": deadline.trace} | ({"sni_hostname": pinned.sni} if pinned.sni else {})
        headers = headers | {"host": pinned.host}
        with _client.stream("POST", pinned.url, content=content, headers=headers, extensions=extensions) as answer:
            # one chunk of at most MAX_ANSWER_BYTES: the rest is never asked for
            excerpt = next(answer.iter_raw(chunk_size=MAX_ANSWER_BYTES), b"")
            asked = retry_after(answer.headers.get("retry-after")) if answer.status_code in (429, 503) else None
            abort = answer.headers.get("webhook-delivery", "").strip().lower() == "abort"
            shown = excerpt[:MAX_ANSWER_BYTES].decode("utf-8", "replace")
            return Answer(f"http_{answer.status_code}", asked, abort, shown)
    except addresses.Unresolved:
        return Answer("dns")
    except addresses.Forbidden as exc:
        return Answer("forbidden_address", excerpt=f"{exc} is not a global unicast address")
    except httpx.TimeoutException:
        return Answer("timeout")
    except httpx.ConnectError as exc:
        return Answer("tls" if _tls(exc) else "refused", excerpt=str(exc)[:200])
    except httpx.HTTPError as exc:
        return Answer(type(exc).__name__.lower())
    except Exception as exc:
        return Answer(f"error_{type(exc).__name__.lower()}")


def _tls(exc: BaseException) -> bool:
    """A certificate or handshake failure, however deep httpx wrapped the ssl error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "SSL" in str(seen) or "CERTIFICATE" in str(seen).upper():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text[:9])
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - time.time())
