"""bench/million.py at 20,000 customers, as a test of the bench itself: it runs to the end through
the worker's path, weighs every key family, grows the customer set and times the reads at size."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_the_million_customer_bench_runs_at_20000() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.million", "--customers", "20000", "--real", "1000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for family in ("access", "offers", "timeline", "schedule", "stream", "archive", "marks", "total"):
        assert re.search(rf"^  {family} +[0-9,]+", out, re.M), family
    assert "grown to 20,000 customers" in out and "pages: 21.00" in out
    for read in ("access API", "console customer page", "flag evaluation"):
        assert re.search(rf"p99 {read} \(ms\): [0-9.]+", out), read
