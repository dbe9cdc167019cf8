"""`dodo-upsell`: the one command operators use to run, check and repair the worker."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from worker import config


def _settings(*, need_webhook_key: bool = True) -> config.Settings:
    try:
        return config.load(need_webhook_key=need_webhook_key)
    except config.ConfigError as exc:
        sys.exit(f"config error: {exc}")


def cmd_dev(args: argparse.Namespace) -> None:
    from worker.cli import dev

    dev.run(args.host, args.port)


def cmd_demo(args: argparse.Namespace) -> None:
    from worker.cli import demo

    demo.run(args.port, args.dodo_port)


def cmd_emulator(args: argparse.Namespace) -> None:
    import sys as _sys

    from emulator.__main__ import main as emulator_main

    _sys.argv = ["emulator", *args.rest]
    emulator_main()


def cmd_web(args: argparse.Namespace) -> None:
    import uvicorn

    from receiver.app import create_app
    from worker import logs

    settings = _settings()
    logs.configure()
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning", access_log=False)


def cmd_worker(args: argparse.Namespace) -> None:
    _settings(need_webhook_key=False)
    argv = ["dramatiq", "worker.actors", "--processes", str(args.processes), "--threads", str(args.threads)]
    os.execvp(sys.executable, [sys.executable, "-m", *argv])  # noqa: S606 - our interpreter, fixed arguments


def cmd_send(args: argparse.Namespace) -> None:
    from worker.cli import dev, send

    secret = args.secret or dev.dev_secret()
    try:
        config.check_webhook_secret(secret)
    except config.ConfigError as exc:
        sys.exit(f"--secret: {exc}")
    response = send.send(Path(args.file), args.url, secret, args.id)
    print(f"{response.status_code} {response.text}")
    sys.exit(0 if response.is_success else 1)


def cmd_dead_letters(args: argparse.Namespace) -> None:
    import redis

    from worker.queue import deadletters

    settings = _settings(need_webhook_key=False)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    if args.action == "list":
        for record in deadletters.all_records(client):
            print(json.dumps({k: v for k, v in record.items() if k not in ("body", "args")}))
        return
    from worker import actors

    body = Path(args.body).read_text() if args.body else None
    try:
        entry = deadletters.replay(client, actors.BROKER, args.id, body)
    except KeyError:
        sys.exit(f"no dead letter {args.id!r}: `dodo-upsell dead-letters list` shows them")
    except ValueError as exc:
        sys.exit(str(exc))
    print(f"replayed {entry['id']} to {entry['actor']}")


def cmd_rules(args: argparse.Namespace) -> None:
    from worker.queue.errors import PermanentError
    from worker.rules import book as rulebook
    from worker.rules import explain, yamlsource

    directory = Path(args.dir or os.environ.get("UPSELL_RULES_DIR") or "rules")
    try:
        book = rulebook.load_dir(directory)
    except yamlsource.ProblemsFound as found:
        print("\n".join(str(p) for p in found.problems), file=sys.stderr)
        sys.exit(f"{len(found.problems)} error(s) in {directory}: nothing was changed")
    if args.action == "check":
        print(explain.summary(book, directory))
        return
    access = json.loads(Path(args.customer_access).read_text()) if args.customer_access else {}
    try:
        print(json.dumps(explain.explain(book, Path(args.event), access), indent=2))
    except (PermanentError, OSError, ValueError) as exc:
        sys.exit(f"cannot explain: {exc}")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dodo-upsell", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="receiver + worker in one process (embedded Valkey if REDIS_URL is unset)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.set_defaults(func=cmd_dev)

    demo = sub.add_parser(
        "demo", help="receiver, worker and Dodo emulator together: one upsell from purchase to access"
    )
    demo.add_argument("--port", type=int, default=8010)
    demo.add_argument("--dodo-port", type=int, default=8787)
    demo.set_defaults(func=cmd_demo)

    emulator = sub.add_parser(
        "emulator", help="the local Dodo API emulator (python -m emulator --help)", add_help=False
    )
    emulator.add_argument("rest", nargs=argparse.REMAINDER)
    emulator.set_defaults(func=cmd_emulator)

    web = sub.add_parser("web", help="the receiver alone (production)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8000)
    web.set_defaults(func=cmd_web)

    worker = sub.add_parser("worker", help="Dramatiq workers: `dramatiq worker.actors` with checked settings")
    worker.add_argument("--processes", type=int, default=2)
    worker.add_argument("--threads", type=int, default=8)
    worker.set_defaults(func=cmd_worker)

    send = sub.add_parser("send", help="sign a payload as Dodo does and POST it")
    send.add_argument("file")
    send.add_argument("--url", default="http://127.0.0.1:8000/webhooks/dodo")
    send.add_argument("--secret", help="whsec_... (default: DODO_PAYMENTS_WEBHOOK_KEY, else the dev secret)")
    send.add_argument("--id", help="webhook-id (default: a new one; reuse one to test dedupe)")
    send.set_defaults(func=cmd_send)

    rules = sub.add_parser("rules", help="check the rule files, or explain what they do with an event")
    rules_sub = rules.add_subparsers(dest="action", required=True)
    check = rules_sub.add_parser("check", help="exit 0 with a summary, or 1 with every file:line error")
    check.add_argument("dir", nargs="?", help="rules folder (default: UPSELL_RULES_DIR, else ./rules)")
    explain = rules_sub.add_parser("explain", help="JSON: which rules match EVENT.json and what they would do")
    explain.add_argument("event")
    explain.add_argument("--customer-access", help='JSON file like {"tier": "basic", "features": ["reports"]}')
    explain.add_argument("--rules", dest="dir", help="rules folder (default: UPSELL_RULES_DIR, else ./rules)")
    rules.set_defaults(func=cmd_rules)

    dead = sub.add_parser("dead-letters", help="events that failed for good")
    dead_sub = dead.add_subparsers(dest="action", required=True)
    dead_sub.add_parser("list", help="one JSON line per record")
    replay = dead_sub.add_parser("replay", help="run a record's event again")
    replay.add_argument("id")
    replay.add_argument("--body", help="a corrected JSON body to process instead of the stored one")
    dead.set_defaults(func=cmd_dead_letters)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.func(args)
