"""Dodo calls from the API: their own small thread pool, bounded, so a slow Dodo never starves the
Redis-only endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
DODO_CONCURRENCY = 8  # Dodo calls in flight from one receiver process
DODO_QUEUE_SECONDS = 2.0  # how long a call waits for a free slot before the app hears "busy"


class DodoBusy(Exception):
    """Every Dodo slot stayed taken for DODO_QUEUE_SECONDS."""


class DodoLane:
    """Dodo calls from the API run here: their own threads, at most DODO_CONCURRENCY at once, so a
    slow Dodo never takes the threads that Redis-only calls (access, offers, accept) run on."""

    def __init__(self, size: int = DODO_CONCURRENCY) -> None:
        self.pool = ThreadPoolExecutor(size, thread_name_prefix="dodo-api")
        self.slots = asyncio.Semaphore(size)

    async def call(self, work: Callable[..., T], *args: Any) -> T:
        try:
            await asyncio.wait_for(self.slots.acquire(), DODO_QUEUE_SECONDS)
        except TimeoutError:
            raise DodoBusy from None
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)
        finally:
            self.slots.release()
