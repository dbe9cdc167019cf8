"""The newcomer's demo walks a purchase to an accepted, converted offer and the access change."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, free_port


def test_demo_walks_purchase_to_access() -> None:
    argv = [sys.executable, "-m", "worker", "demo", "--port", str(free_port()), "--dodo-port", str(free_port())]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "state charging" in done.stdout and "converted it: payment pay_" in done.stdout
    assert "'priority_support'" in done.stdout and "offer.converted" in done.stdout
    assert "8. period over" in done.stdout and "tier None" in done.stdout
