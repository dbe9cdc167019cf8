"""What every receiver (`web` and `dev`) must do with request heads: bound them (431) before any
body is read, and leave ordinary requests alone, kept-alive ones included."""

from __future__ import annotations

import socket
import time

from receiver.slowclients import MAX_HEAD_BYTES, MAX_HEADERS


def _answer(port: int, head: bytes, rest: bytes = b"", chunk: int = 1 << 16) -> tuple[bytes, float]:
    """Send the head (then `rest`) as a client would, and read what the server says first."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.settimeout(10)
    started = time.monotonic()
    try:
        for at in range(0, len(head + rest), chunk):
            raw.sendall((head + rest)[at : at + chunk])
    except OSError:
        pass  # the server answered and closed before we finished: what a bound is for
    try:
        answer = raw.recv(4096)
    except OSError:
        answer = b""
    raw.close()
    return answer, time.monotonic() - started


def check_bounded(port: int) -> None:
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 << 20)  # 100 MiB, never finished
    answer, took = _answer(port, huge)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert took < 5, f"read for {took:.1f} s"
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(MAX_HEADERS)) + b"\r\n"
    assert _answer(port, many)[0].startswith(b"HTTP/1.1 431")
    near = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES - 200) + b"\r\n\r\n"
    assert _answer(port, near)[0].startswith(b"HTTP/1.1 200")
    fewer = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(90)) + b"\r\n"
    assert _answer(port, fewer)[0].startswith(b"HTTP/1.1 200")
    body = b"x" * (900 << 10)  # a body is never counted as head, even when it arrives with it
    post = b"POST /webhooks/dodo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    assert _answer(port, post, body, chunk=1 << 20)[0].split(b"\r\n")[0] in (
        b"HTTP/1.1 401 Unauthorized",
        b"HTTP/1.1 400 Bad Request",
    )
    raw = socket.create_connection(("127.0.0.1", port))  # kept alive: each request's head counts alone
    raw.settimeout(10)
    reader = raw.makefile("rb")
    for _ in range(3):
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES // 2) + b"\r\n\r\n")
        assert reader.readline().startswith(b"HTTP/1.1 200")
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        reader.read(length)
    raw.close()
