"""`python -m emulator [--port P] [--webhook-url URL] [--secret whsec_...] [--seed FILE]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn

from emulator.app import create_app
from emulator.demo_data import DEMO


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--webhook-url", help="where to deliver signed webhooks (the receiver's /webhooks/dodo)")
    parser.add_argument("--secret", help="whsec_... to sign them with")
    parser.add_argument("--seed", help="JSON file of customers, products, subscriptions (default: the demo data)")
    args = parser.parse_args()
    seed = json.loads(Path(args.seed).read_text()) if args.seed else DEMO
    uvicorn.run(create_app(args.webhook_url, args.secret, seed), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
