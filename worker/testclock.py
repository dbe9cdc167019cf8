"""A wall clock moved forward, for tests only: `UPSELL_TEST_CLOCK_SHIFT=31d` (or seconds, `2.5`).

Promises that span days (period ends, grace, lifetimes, follow-ups, retries) are tested by starting
the real processes with their wall clock shifted. time-machine moves `time.time()` and
`datetime.now()` for the whole process; `time.monotonic()`, sleeps and timeouts keep real time,
and production code keeps calling the ordinary clock. Unset (always, in production), nothing
is imported and nothing changes.
"""

from __future__ import annotations

import os
import re
import sys
import time

VARIABLE = "UPSELL_TEST_CLOCK_SHIFT"
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def shift_seconds(text: str) -> float:
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if match is None:
        raise ValueError(f"{VARIABLE}={text!r}: use seconds or a duration such as 90s, 2h or 31d")
    return float(match.group(1)) * _UNITS[match.group(2)]


_installed: list[float] = []  # the shift in force: an entry point reached twice never shifts twice


def install_from_env() -> None:
    """Called first thing by each entry point (`dodo-upsell ...`, `dramatiq worker.actors`, the emulator)."""
    text = os.environ.get(VARIABLE, "")
    if not text or _installed:
        return
    try:
        seconds = shift_seconds(text)
    except ValueError as exc:
        sys.exit(f"config error: {exc}")
    import time_machine  # test extra only: never needed when the variable is unset

    time_machine.travel(time.time() + seconds, tick=True).start()
    _installed.append(seconds)
