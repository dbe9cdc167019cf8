"""A client must send each whole request (headers and body) within UPSELL_REQUEST_TIMEOUT of starting it,
or its connection is closed: a client that stops mid-request holds nothing for minutes. A timer
per connection, on the event loop: nobody else waits for it. A request's head is bounded too
(MAX_HEAD_BYTES, MAX_HEADERS): past either it is answered 431 and closed as the bytes arrive,
before the parser holds them and before any body is read. `web` and `dev` both serve with this."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # request line and headers together
MAX_HEADERS = 100
_TOO_LARGE = (
    f'{{"error": "request headers too large: at most {MAX_HEAD_BYTES} bytes and {MAX_HEADERS} headers"}}'
).encode()
REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_TOO_LARGE)
    + _TOO_LARGE
)


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop the parse once the 431 is sent."""


class DeadlineProtocol(HttpToolsProtocol):
    request_seconds = 10.0  # UPSELL_REQUEST_TIMEOUT, through Settings: see bounded()
    _deadline: asyncio.TimerHandle | None = None
    _in_head = True
    _head_bytes = 0
    _header_count = 0
    _tail = b""  # the last bytes seen, so a head's end split across two reads is still found
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end - len(self._tail))
            self._tail = seen[-3:]
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._refuse()
            raise HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes, self._header_count, self._tail = True, 0, 0, b""
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parse stopped because of our 431: that is the answer
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(REFUSAL)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def bounded(request_seconds: float) -> type[DeadlineProtocol]:
    """The protocol class uvicorn serves with (`http=`), with the settings' request deadline."""
    return type("BoundedProtocol", (DeadlineProtocol,), {"request_seconds": request_seconds})
