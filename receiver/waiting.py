"""Answers that wait (`?wait=2s`): the handler looks again every POLL_SECONDS on the event loop,
holding no thread between looks, until what the app waits for is there or the wait ends. At most
MAX_WAITERS wait at once per receiver process; one more answers 503 at once."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

MAX_WAIT_SECONDS = 30.0
MAX_WAITERS = 1000
POLL_SECONDS = 0.02
T = TypeVar("T")


class BadWait(ValueError):
    """The `wait` parameter is not a duration the API takes."""


class TooManyWaiters(Exception):
    """MAX_WAITERS requests are waiting already."""


def parse(text: str | None) -> float:
    """`2s`, `1500ms` or `2` (seconds), 0 to 30 s; absent: 0 (answer at once)."""
    if text is None:
        return 0.0
    match = re.fullmatch(r"([0-9]{1,6})(ms|s)?", text.strip())
    if match is None:
        raise BadWait("wait must be a duration such as 2s or 500ms, at most 30s")
    seconds = int(match[1]) / (1000 if match[2] == "ms" else 1)
    if seconds > MAX_WAIT_SECONDS:
        raise BadWait(f"wait is at most {MAX_WAIT_SECONDS:.0f}s")
    return seconds


class Waiters:
    def __init__(self, limit: int = MAX_WAITERS) -> None:
        self.limit, self.count = limit, 0

    async def until(self, seconds: float, look: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
        """`look()` again until `done` says so or `seconds` pass; the last look is the answer."""
        found = await look()
        if done(found) or seconds <= 0:
            return found
        if self.count >= self.limit:
            raise TooManyWaiters
        self.count += 1
        try:
            deadline = time.monotonic() + seconds
            while not done(found) and time.monotonic() < deadline:
                await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
                found = await look()
            return found
        finally:
            self.count -= 1
