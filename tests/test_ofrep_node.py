"""OpenFeature's own Node SDK and OFREP provider (tests/node/server.test.mjs, run by Node's test
runner) against the running receiver: the protocol as another language's published client reads it."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import redis

from tests.conftest import ROOT, TOKEN, Stack
from tests.test_ofrep import buy, flags, subscribe  # noqa: F401 - `flags` is the fixture

NODE = ROOT / "tests" / "node"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_published_node_provider_reads_entitlements(flags: Stack, client: redis.Redis) -> None:  # noqa: F811
    assert (NODE / "node_modules" / "@openfeature" / "ofrep-provider").is_dir(), "run `python3 tasks.py test` (npm ci)"
    buy(flags, client, "cus_node")
    subscribe(flags, client, "cus_node")
    env = os.environ | {
        "UPSELL_URL": flags.base_url,
        "UPSELL_TOKEN": TOKEN,
        "UPSELL_CUSTOMER": "cus_node",
        "UPSELL_STRANGER": "cus_node_stranger",
    }
    done = subprocess.run(
        ["node", "--test", "server.test.mjs"], cwd=NODE, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 1" in done.stdout and "# skipped 0" in done.stdout, done.stdout
