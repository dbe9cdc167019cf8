"""Drive a server with `wrk` (C, not sharing our interpreter) replaying pre-signed webhooks.

Every request is signed ahead of time with its own webhook-id; the body is the same template, so
the Lua script holds only ids and signatures. `wrk` is the Debian package `wrk`
(`apt-get install wrk`); the bench installs nothing itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks import Webhook

from bench import harness

SCRIPT = """
local ids, sigs = {%(ids)s}, {%(sigs)s}
local body = %(body)s
local stamp = "%(stamp)s"
local threads, next_offset = %(threads)d, 0
function setup(thread) thread:set("offset", next_offset); next_offset = next_offset + 1 end
function init(args) n = offset end
function request()
  n = n + threads
  local i = (n %% #ids) + 1
  return wrk.format("POST", "/webhooks/dodo", {
    ["content-type"] = "application/json", ["webhook-id"] = ids[i],
    ["webhook-timestamp"] = stamp, ["webhook-signature"] = sigs[i]}, body)
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII text


def script(prefix: str, count: int, threads: int) -> Path:
    body = json.dumps(harness.payment(0))
    at = datetime.now(UTC)
    hook = Webhook(harness.SECRET)
    ids = [f"{prefix}_{n}" for n in range(count)]
    sigs = [hook.sign(i, at, body) for i in ids]
    text = SCRIPT % {
        "ids": ",".join(_lua_string(i) for i in ids),
        "sigs": ",".join(_lua_string(s) for s in sigs),
        "body": _lua_string(body),
        "stamp": str(int(at.timestamp())),
        "threads": threads,
    }
    path = Path(tempfile.mkstemp(prefix=f"wrk-{prefix}-", suffix=".lua")[1])
    path.write_text(text)
    return path


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    """wrk's latency figures: 812.00us, 4.18ms, 1.20s, 1.02m."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"wrk printed a latency this bench cannot read: {text!r}")
    return float(found[1]) * _UNITS[found[2]]


def run(port: int, prefix: str, seconds: int = 5, threads: int = 2, connections: int = 64) -> dict[str, float]:
    """One wrk run: requests per second, p50 and p99 in ms, and the count of non-2xx answers."""
    lua = script(prefix, 25_000 * seconds, threads)  # unique ids: no server here answers 25k req/s
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua)]
    out = subprocess.run([*argv, f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    lua.unlink()
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        "p50_ms": _ms(re.search(r"50%\s+(\S+)", out)[1]),  # type: ignore[index]
        "p99_ms": _ms(re.search(r"99%\s+(\S+)", out)[1]),  # type: ignore[index]
        "non_200": float(non_2xx[1]) if non_2xx else 0.0,
    }
