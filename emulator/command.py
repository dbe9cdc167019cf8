"""`dodo-upsell emulator` and `python -m emulator`: one parser for both, kept with the emulator."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SUMMARY = "the local Dodo API emulator alone (point DODO_PAYMENTS_BASE_URL at it)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on")
    parser.add_argument("--webhook-url", help="the receiver's /webhooks/dodo, where it delivers signed webhooks")
    parser.add_argument("--secret", help="whsec_... to sign its webhooks (default: DODO_PAYMENTS_WEBHOOK_KEY)")
    parser.add_argument("--seed", help="JSON file of customers, products, subscriptions (default: demo data)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import uvicorn

    from worker import testclock

    testclock.install_from_env()  # tests move every process's clock alike: a code's window is Dodo's too

    from emulator.app import create_app
    from emulator.demo_data import DEMO

    seed = json.loads(_read(args.seed)) if args.seed else DEMO
    print(f"Dodo API emulator on http://{args.host}:{args.port} (webhooks to {args.webhook_url or 'nowhere'})")
    secret = args.secret or os.environ.get("DODO_PAYMENTS_WEBHOOK_KEY", "").split(",")[0].strip() or None
    uvicorn.run(create_app(args.webhook_url, secret, seed), host=args.host, port=args.port, log_level="warning")


def _read(path: str) -> str:
    """The seed file, or exit with one line saying which and why."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        sys.exit(f"--seed {path}: {exc.strerror or exc}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=SUMMARY)
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.func(args)
