"""Webhooks per minute by outcome in this receiver, for the console's overview: an in-process
count per minute, the last hour kept (Prometheus keeps the totals; this keeps their recent shape)."""

from __future__ import annotations

import threading
import time
from collections import Counter

KEEP_MINUTES = 60


class PerMinute:
    def __init__(self) -> None:
        self._minutes: dict[int, Counter[str]] = {}
        self._lock = threading.Lock()

    def count(self, outcome: str) -> None:
        minute = int(time.time() // 60)
        with self._lock:
            found = self._minutes.get(minute)
            if found is None:
                found = self._minutes[minute] = Counter()
                for old in [m for m in self._minutes if m <= minute - KEEP_MINUTES]:
                    del self._minutes[old]
            found[outcome] += 1

    def recent(self, minutes: int = 15) -> list[tuple[str, dict[str, int]]]:
        """The last `minutes` minutes, newest first, as (HH:MM UTC, counts by outcome)."""
        now = int(time.time() // 60)
        with self._lock:
            rows = [(m, dict(self._minutes.get(m, {}))) for m in range(now, now - minutes, -1)]
        return [(time.strftime("%H:%M", time.gmtime(m * 60)), counts) for m, counts in rows]


WEBHOOKS = PerMinute()
