"""Cheaper process starts for the suite: one process per test worker imports the heavy libraries
once (the Dodo SDK, redis, Dramatiq, Starlette, uvicorn: 0.8 s of every start) and forks a child
for each `python -m MODULE ...` a test starts, with the test's environment, folder and log file.

Preloaded: third-party libraries and the project's modules that do no work at import; never
prometheus_client (it picks its storage at import) nor worker.actors (it reads the settings), which
each child imports as a real start does. A child runs in a session of its own, like `start_new_session=True`, so a test kills it
as a group; its exit status is read from the zygote, its parent. `UPSELL_TEST_ZYGOTE=off` starts
every process with Popen instead."""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import random
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

PRELOAD = (
    "dodopayments",
    "dodopayments.types",
    "redis",
    "redis.asyncio",
    "hiredis",
    "starlette.applications",
    "starlette.routing",
    "starlette.templating",
    "uvicorn",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.loops.uvloop",
    "dramatiq",
    "dramatiq.cli",
    "dramatiq.brokers.redis",
    "dramatiq.middleware",
    "structlog",
    "pydantic",
    "yaml",
    "httpx",
    "orjson",
    "jinja2",
    "standardwebhooks",
    "multipart",
    "time_machine",
    # The project's modules that do no work at import and leave prometheus_client alone (the
    # receiver's do not: they are imported by each child; so is worker.actors, which reads settings).
    "worker.cli.main",
    "worker.context",
    "worker.webhooks.handle",
    "worker.offers.making",
    "worker.offers.charge",
    "worker.offers.reconcile",
    "worker.queue.broker",
    "worker.queue.deadletters",
    "worker.replay.backtest",
    "emulator.app",
)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the process the test asked for, then exit with its status."""
    code: int = 0
    try:
        os.setsid()
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0, closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False), write_through=True)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        random.seed()
        module, args = request["argv"][2], request["argv"][3:]
        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(path: str) -> None:
    for module in PRELOAD:
        __import__(module)
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    listener.listen(64)
    os.rename(path + ".new", path)  # the path appears only once it accepts: no connect is refused
    listener.settimeout(0.2)
    exited: dict[int, int] = {}
    while os.getppid() == parent:  # the test worker went away: so do we
        _reap(exited)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            request = json.loads(_read(conn))
            if request["op"] == "spawn":
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    _child(request)
                conn.sendall(json.dumps({"pid": pid}).encode())
            else:
                _reap(exited)
                conn.sendall(json.dumps({"code": exited.get(request["pid"])}).encode())


def _reap(exited: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exited[pid] = os.waitstatus_to_exitcode(status)


def _read(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class Zygote:
    """The client side, one per test worker process, started on first use."""

    def __init__(self) -> None:
        self.path = str(Path(tempfile.mkdtemp(prefix="zygote-")) / "socket")
        root = str(Path(__file__).resolve().parent.parent)
        env = os.environ | {"PYTHONPATH": root}
        self.server = subprocess.Popen([sys.executable, "-m", "tests.zygote", self.path], cwd=root, env=env)
        atexit.register(self.close)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.path):
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the test zygote did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.kill()
        self.server.wait(10)
        shutil.rmtree(Path(self.path).parent, ignore_errors=True)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(self.path)
            conn.sendall(json.dumps(request).encode())
            conn.shutdown(socket.SHUT_WR)
            return dict(json.loads(_read(conn)))

    def spawn(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Spawned:
        answer = self.ask({"op": "spawn", "argv": argv, "env": env, "cwd": str(cwd), "log": str(log)})
        return Spawned(self, answer["pid"])


class Spawned:
    """What the suite uses of a Popen (pid, poll, wait, returncode) for a child of the zygote."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote, self.pid = zygote, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.ask({"op": "status", "pid": self.pid})["code"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode


_zygote: Zygote | None = None


def usable(argv: list[str]) -> bool:
    return os.environ.get("UPSELL_TEST_ZYGOTE") != "off" and argv[:2] == [sys.executable, "-m"]


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Spawned:
    global _zygote
    if _zygote is None:
        _zygote = Zygote()
    return _zygote.spawn(argv, env, cwd, log)


if __name__ == "__main__":
    serve(sys.argv[1])
