"""dodo-upsell: run, check and repair the Dodo Payments upsell worker.

Exit codes: 0 done; 1 a problem the message names (bad setting, missing file, unreachable
service, broken rules); 2 a mistyped command or option (with usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from emulator import command as emulator_command
from worker import config, testclock
from worker.cli import deliveries, project, records


def _settings(*, need_webhook_key: bool = True) -> config.Settings:
    try:
        return config.load(need_webhook_key=need_webhook_key)
    except config.ConfigError as exc:
        sys.exit(f"config error: {exc}")


def cmd_dev(args: argparse.Namespace) -> None:
    from worker.cli import dev

    try:
        dev.run(args.host, args.port)
    except project.NoProject as exc:
        sys.exit(str(exc))


def cmd_demo(args: argparse.Namespace) -> None:
    from worker.cli import demo

    demo.run(args.port, args.dodo_port)


def cmd_web(args: argparse.Namespace) -> None:
    import uvicorn

    from receiver.app import create_app
    from worker import gctune, logs

    settings = _settings()
    logs.configure()
    config.warn_if_no_dodo_key(settings)
    listening = project.bound_socket(args.host, args.port)  # exits with one line if the port is taken
    app = create_app(settings)
    gctune.after_start_up()
    from receiver.eventstream import Server
    from receiver.slowclients import bounded

    protocol = bounded(settings.request_timeout_seconds)
    options = {"log_level": "warning", "access_log": False, "log_config": None, "http": protocol}
    server = Server(uvicorn.Config(app, **options))  # type: ignore[arg-type]
    structlog.get_logger("web").info(
        "web_listening",
        url=f"http://{args.host}:{args.port}",
        redis=config.without_password(settings.redis_url),
        rules=_rules_said(settings.rules_dir),
        dodo=config.dodo_mode(settings),
        version=config.version(),
    )
    server.run(sockets=[listening])


def _rules_said(directory: Path) -> str:
    """The rules summary a start-up line carries (a broken folder says so; the API then answers 503)."""
    from worker import book
    from worker.folder import yamlsource
    from worker.replay import explain

    try:
        return explain.summary(book.load_dir(directory), directory)
    except yamlsource.ProblemsFound as found:
        return f"broken: {len(found.problems)} error(s) in {directory} (dodo-upsell rules check {directory})"


def cmd_worker(args: argparse.Namespace) -> None:
    _settings(need_webhook_key=False)
    argv = ["dramatiq", "worker.actors", "--processes", str(args.processes), "--threads", str(args.threads)]
    os.execvp(sys.executable, [sys.executable, "-m", *argv])  # noqa: S606 - our interpreter, fixed arguments


def cmd_send(args: argparse.Namespace) -> None:
    from worker.cli import send

    send.run(args.file, args.url, args.secret, args.id)


def cmd_access(args: argparse.Namespace) -> None:
    records.access(args.customer_id)


def cmd_events(args: argparse.Namespace) -> None:
    records.events_tail(records.events_stream(), args.from_start)


def cmd_dead_letters(args: argparse.Namespace) -> None:
    if args.action == "list":
        records.dead_letters_list()
    else:
        records.dead_letters_replay(args.id, args.body)


def cmd_stats(args: argparse.Namespace) -> None:
    records.stats(args.since, args.until, args.rule, args.json, args.by_version)


def cmd_schedule(args: argparse.Namespace) -> None:
    records.schedule(args.customer, args.due_within, args.json)


def cmd_rules(args: argparse.Namespace) -> None:
    from worker import book as rulebook
    from worker.folder import yamlsource
    from worker.queue.errors import PermanentError
    from worker.replay import explain

    if args.action == "history":
        return records.rules_history(args.diff)
    try:
        directory = Path(args.dir).resolve() if args.dir else project.rules_dir()
    except project.NoProject as exc:
        sys.exit(f"{exc} (or name the rules folder: `dodo-upsell rules check DIR`)")
    try:
        book = rulebook.load_dir(directory)
    except yamlsource.ProblemsFound as found:
        print("\n".join(str(p) for p in found.problems), file=sys.stderr)
        sys.exit(f"{len(found.problems)} error(s) in {directory}: nothing was changed")
    if args.action == "check":
        from worker.rules import codes

        for warning in [*book.warnings, *codes.warnings(book.rules, directory, records.dodo_or_none())]:
            print(f"warning: {warning}", file=sys.stderr)
        print(explain.summary(book, directory))
        return records.rules_test(book, directory, None, quiet=True)
    if args.action == "test":
        return records.rules_test(book, directory, args.junit)
    if args.action == "backtest":
        records.backtest(book, directory, args.since, args.until, args.json)
        return
    access = json.loads(records.read_text(args.customer_access, "--customer-access")) if args.customer_access else {}
    try:
        print(json.dumps(explain.explain(book, Path(args.event), access), indent=2))
    except (PermanentError, OSError, ValueError) as exc:
        sys.exit(f"cannot explain: {exc}")


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option (unless there is none, or its help says it already);
    descriptions keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        said = action.help or ""
        if action.default in (None, False) or "default" in said:
            return said
        return super()._get_help_string(action)


def _action(actions: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A command's action (`rules check`), with its summary as its description too."""
    return actions.add_parser(name, help=summary, description=summary, formatter_class=_Help)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dodo-upsell", description=__doc__, formatter_class=_Help)
    top.add_argument("--version", action="version", version=f"dodo-upsell {config.version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return _action(sub, name, summary)

    for group in (_running, _reading, _repairing):
        group(command)
    return top


def _running(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Commands that run something: locally, in production, or once (send)."""
    dev = command(
        "dev",
        "receiver, worker, Dodo emulator and Valkey in one process for local work; secret, token and ports "
        "stay the same across restarts (kept in .dodo-upsell/ of the project)",
    )
    dev.add_argument("--host", default="127.0.0.1", help="address the receiver listens on")
    dev.add_argument("--port", type=int, default=8000, help="receiver port (webhooks and /api)")
    dev.set_defaults(func=cmd_dev)

    demo = command("demo", "walk one upsell from purchase to access, then a cancellation, on throwaway state")
    demo.add_argument("--port", type=int, default=8010, help="receiver port")
    demo.add_argument("--dodo-port", type=int, default=8787, help="Dodo emulator port")
    demo.set_defaults(func=cmd_demo)

    emulator_command.add_arguments(command("emulator", emulator_command.SUMMARY))

    web = command("web", "the receiver alone, for production (needs REDIS_URL and DODO_PAYMENTS_WEBHOOK_KEY)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all)")
    web.add_argument("--port", type=int, default=8000, help="port to listen on")
    web.set_defaults(func=cmd_web)

    worker = command("worker", "Dramatiq workers for production: `dramatiq worker.actors` with checked settings")
    worker.add_argument("--processes", type=int, default=2, help="worker processes")
    worker.add_argument("--threads", type=int, default=8, help="threads per process")
    worker.set_defaults(func=cmd_worker)

    send = command("send", "sign a JSON payload as Dodo does and POST it to a receiver")
    send.add_argument("file", help="the webhook payload, e.g. emulator/templates/payment.succeeded.json")
    send.add_argument("--url", help="receiver URL (default: this project's dev receiver, else 127.0.0.1:8000)")
    send.add_argument("--secret", help="whsec_... (default: DODO_PAYMENTS_WEBHOOK_KEY, else dev's secret)")
    send.add_argument("--id", help="webhook-id (default: a new one; reuse one to see deduplication)")
    send.set_defaults(func=cmd_send)


def _reading(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Commands that read state and change nothing."""
    access = command("access", "a customer's current access as JSON (REDIS_URL, else dev's Redis)")
    access.add_argument("customer_id", help="Dodo customer id, cus_...")
    access.set_defaults(func=cmd_access)

    events = command("events", "the emitted events stream (UPSELL_EVENTS_STREAM, default upsell:events)")
    events_sub = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    tail = _action(events_sub, "tail", "print new entries as JSON lines until Ctrl-C")
    tail.add_argument("--from-start", action="store_true", help="print the entries already there first")
    events.set_defaults(func=cmd_events)

    stats = command("stats", "what each rule and variant earned, net of refunds (REDIS_URL, else dev's Redis)")
    stats.add_argument("--since", default="7d", help="7d (days back) or an ISO 8601 date")
    stats.add_argument("--until", default="0d", help="last day included (0d: today)")
    stats.add_argument("--rule", help="only this rule id")
    stats.add_argument("--json", action="store_true", help="the same figures as JSON")
    stats.add_argument("--by-version", action="store_true", help="JSON: each rule's figures per rule set version")
    stats.set_defaults(func=cmd_stats)

    jobs = command("schedule", "jobs due later: revocations, expiries, follow-ups, retries (REDIS_URL, else dev's)")
    jobs.add_argument("--customer", help="only this customer's jobs")
    jobs.add_argument("--due-within", help="only jobs due within this long, e.g. 7d or 2h (default: all)")
    jobs.add_argument("--json", action="store_true", help="a JSON array, one object per job")
    jobs.set_defaults(func=cmd_schedule)


def _repairing(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Commands that check rules or put failed work back."""
    rules = command("rules", "check the rule files, explain what they would do with an event, or backtest them")
    rules_sub = rules.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = _action(rules_sub, "check", "exit 0 with a summary, or 1 with every file:line error at once")
    check.add_argument("dir", nargs="?", help="rules folder (default: UPSELL_RULES_DIR, else the project's rules/)")
    explain = _action(rules_sub, "explain", "JSON: which rules match EVENT.json and what they would do")
    explain.add_argument("event", help="a webhook payload file")
    explain.add_argument("--customer-access", help='JSON file like {"tier": "basic", "features": ["reports"]}')
    explain.add_argument("--rules", dest="dir", help="rules folder (default: UPSELL_RULES_DIR, else rules/)")
    summary = "replay a window's archived webhooks through DIR's rules (REDIS_URL, else dev's Redis); changes nothing"
    backtest = _action(rules_sub, "backtest", summary)
    backtest.add_argument("dir", nargs="?", help="the draft rules folder (default: UPSELL_RULES_DIR, else rules/)")
    backtest.add_argument("--since", default="7d", help="7d or 36h back from now, or an ISO 8601 date or time")
    backtest.add_argument("--until", default="now", help="end of the window: now, 2h back, or an ISO 8601 time")
    backtest.add_argument("--json", action="store_true", help="the figures and each predicted offer as JSON")
    tests = _action(
        rules_sub, "test", "run the folder's scenarios (tests/*.yaml); exit 1 on a failure, naming its line"
    )
    tests.add_argument("dir", nargs="?", help="rules folder (default: UPSELL_RULES_DIR, else the project's rules/)")
    tests.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML for a CI system")
    history = _action(rules_sub, "history", "every rule set that went live (REDIS_URL, else dev's Redis)")
    history.add_argument("--diff", nargs=2, metavar=("A", "B"), help="the diff between two versions")
    rules.set_defaults(func=cmd_rules)

    dead = command("dead-letters", "messages that failed for good (REDIS_URL, else dev's Redis)")
    dead_sub = dead.add_subparsers(dest="action", required=True, metavar="ACTION")
    _action(dead_sub, "list", "one JSON line per record (a webhook's body left out); `none` when there is none")
    replay = _action(dead_sub, "replay", "run a record's message again and drop the record")
    replay.add_argument("id", help="record id from `dead-letters list`")
    replay.add_argument("--body", help="a corrected JSON body to process instead of the stored one (webhooks)")
    dead.set_defaults(func=cmd_dead_letters)

    deliveries.add(command, _action)


def main(argv: list[str] | None = None) -> None:
    testclock.install_from_env()
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except project.NoProject as exc:
        sys.exit(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
