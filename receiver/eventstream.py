"""Live updates for OFREP providers: `GET /ofrep/v1/events` is a Server-Sent Events stream that sends
`{"type": "refetchEvaluation", "etag": ...}` as soon as a customer's access changes.

One reader per receiver process follows `upsell:events` (XREAD BLOCK on its own connection) and
hands each `access.*` entry to the streams open for that customer (or for every customer: an API
token without `customer_id`); a stream is a queue and a coroutine, no thread. An entry id is the SSE
`id`, so a provider reconnecting with `Last-Event-ID` gets one refetch if it missed a change. Open
streams are bounded per process (UPSELL_EVENT_STREAMS_MAX; 503 with `Retry-After` past it); a
comment line every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from types import FrameType
from typing import Any

import redis.asyncio
import structlog
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

HEARTBEAT_SECONDS = 15.0
BLOCK_MS = 5_000
RESUME_LOOKBACK = 1000  # entries read after a Last-Event-ID to see whether this customer changed
log = structlog.get_logger("eventstream")
EVERYONE = ""
FANOUTS: list[Fanout] = []  # this process's: told to end their streams when the receiver is told to stop


class Server(uvicorn.Server):
    """uvicorn waits for every open request before it stops, and an event stream never ends by
    itself: on the stop signal the streams are told to end, so a deploy is not held up."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        for fanout in FANOUTS:
            if fanout.loop is not None:
                fanout.loop.call_soon_threadsafe(fanout.close_all)
        super().handle_exit(sig, frame)


class Fanout:
    def __init__(
        self, client: redis.asyncio.Redis, stream: str, etag_of: Callable[[str], Awaitable[str]], most: int
    ) -> None:
        self.client, self.stream, self.etag_of, self.most = client, stream, etag_of, most
        self.listeners: dict[str, set[asyncio.Queue[tuple[str, str]]]] = defaultdict(set)
        self.open = 0
        self._reader: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        FANOUTS.append(self)

    def close_all(self) -> None:
        """End every open stream (an empty entry id tells a stream to finish)."""
        for queues in self.listeners.values():
            for queue in queues:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(("", ""))

    async def _read(self) -> None:
        """Follow the stream from now on; Redis away: wait and follow again (a resume covers the gap)."""
        last = "$"
        while True:
            try:
                found: Any = await self.client.xread({self.stream: last}, block=BLOCK_MS, count=500)
            except redis.RedisError as exc:
                log.warning("event_stream_reader_retrying", error=type(exc).__name__)
                await asyncio.sleep(1)
                continue
            for _, entries in found or []:
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    self._hand(last, {_text(k): _text(v) for k, v in fields.items()})

    def _hand(self, entry_id: str, fields: dict[str, str]) -> None:
        if not fields.get("type", "").startswith("access."):
            return
        customer_id = fields.get("customer_id", "")
        for queue in [*self.listeners.get(customer_id, ()), *self.listeners.get(EVERYONE, ())]:
            if queue.full():
                queue.get_nowait()  # a refetch is a refetch: the newest one is enough
            queue.put_nowait((entry_id, customer_id))

    async def missed(self, customer_id: str, after: str) -> str | None:
        """The newest entry after `after` that changed this customer's access (None: none did)."""
        try:
            entries: Any = await self.client.xrange(self.stream, f"({after}", "+", count=RESUME_LOOKBACK)
        except redis.RedisError:
            return after  # cannot tell: refetching once is always safe
        hits = [_text(i) for i, f in entries if _text(f.get(b"customer_id", f.get("customer_id", ""))) == customer_id]
        return hits[-1] if hits else None

    def answer(self, customer_id: str, resume_after: str | None) -> Response:
        """The stream for one customer (or EVERYONE), or 503 when this process holds its bound."""
        if self.open >= self.most:
            said = (
                f"this receiver holds {self.most} open event streams (UPSELL_EVENT_STREAMS_MAX): retry shortly, or poll"
            )
            return JSONResponse({"error": said}, status_code=503, headers={"Retry-After": "5"})
        if self._reader is None or self._reader.done():
            self.loop = asyncio.get_running_loop()
            self._reader = self.loop.create_task(self._read())
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            self._events(customer_id, resume_after), media_type="text/event-stream", headers=headers
        )

    async def _events(self, customer_id: str, resume_after: str | None) -> AsyncIterator[str]:
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=8)
        self.listeners[customer_id].add(queue)
        self.open += 1
        try:
            yield ": connected\n\n"
            if resume_after and customer_id != EVERYONE and (hit := await self.missed(customer_id, resume_after)):
                yield await self._event(hit, customer_id)
            while True:
                try:
                    entry_id, whose = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if not entry_id:  # the receiver is stopping
                    return
                yield await self._event(entry_id, whose)
        finally:
            self.open -= 1
            self.listeners[customer_id].discard(queue)
            if not self.listeners[customer_id]:
                del self.listeners[customer_id]

    async def _event(self, entry_id: str, customer_id: str) -> str:
        data = {"type": "refetchEvaluation", "etag": await self.etag_of(customer_id), "customer_id": customer_id}
        return f"id: {entry_id}\ndata: {json.dumps(data)}\n\n"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def resume_point(request: Request) -> str | None:
    """`Last-Event-ID` (header, as EventSource sends it on reconnect), if it is a stream id."""
    given = request.headers.get("last-event-id", "").strip()
    parts = given.split("-")
    return given if len(parts) == 2 and all(p.isdigit() and len(p) < 20 for p in parts) else None
