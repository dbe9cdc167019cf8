"""`dodo-upsell send`: sign a payload exactly as Dodo does and post it."""

from __future__ import annotations

import os
import sys

import httpx

from worker import config
from worker.cli import project, records
from worker.signing import new_webhook_id, signed_headers


def send(body: bytes, url: str, secret: str, webhook_id: str | None = None) -> httpx.Response:
    headers = signed_headers(secret, webhook_id or new_webhook_id(), body)
    return httpx.post(url, content=body, headers=headers, timeout=15)


def run(file: str, url_given: str | None, secret_given: str | None, webhook_id: str | None) -> None:
    """Sign the file's bytes with --secret, else DODO_PAYMENTS_WEBHOOK_KEY, else dev's secret, and
    post them; a bad secret is one line naming where it came from."""
    saved = project.saved_values()
    from_env = os.environ.get("DODO_PAYMENTS_WEBHOOK_KEY", "").split(",")[0].strip()
    secret, source = next(
        (
            (value, name)
            for value, name in ((secret_given, "--secret"), (from_env, "DODO_PAYMENTS_WEBHOOK_KEY"))
            if value
        ),
        (saved.secret if saved else "", "dev's saved secret"),
    )
    if not secret:
        sys.exit("no webhook secret: pass --secret, set DODO_PAYMENTS_WEBHOOK_KEY, or start `dodo-upsell dev` once")
    try:
        config.check_webhook_secret(secret, source)
    except config.ConfigError as exc:
        sys.exit(str(exc))
    url = url_given or (saved.webhook_url if saved else "http://127.0.0.1:8000/webhooks/dodo")
    body = records.read_text(file, "payload file").encode()
    try:
        response = send(body, url, secret, webhook_id)
    except httpx.HTTPError as exc:
        sys.exit(f"cannot reach {url} ({type(exc).__name__}): is the receiver running? (`dodo-upsell dev`)")
    print(f"{response.status_code} {response.text}")
    sys.exit(0 if response.is_success else 1)
