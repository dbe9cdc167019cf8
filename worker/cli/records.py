"""Commands that read or repair state in Redis: `access`, `events tail`, `dead-letters`, `stats`, `rules backtest`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import redis

from worker import config, keys, redisconn
from worker.book import Book
from worker.cli import project


def events_stream() -> str:
    """UPSELL_EVENTS_STREAM, else the contract's default."""
    return os.environ.get("UPSELL_EVENTS_STREAM", "").strip() or "upsell:events"


def connect() -> redis.Redis:
    """REDIS_URL, else this project's `dev` Redis; exits with one line when it does not answer."""
    url = project.redis_url()
    # surrogateescape: the archive's compressed bodies come back as text that holds their bytes (archive.fields)
    client = redisconn.connect(
        url, decode_responses=True, encoding_errors="surrogateescape", socket_connect_timeout=3, socket_timeout=10
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        where = config.without_password(url)
        sys.exit(f"cannot reach Redis at {where} ({type(exc).__name__}): is `dodo-upsell dev` running?")
    return client


def dodo_or_none() -> Any:
    """The Dodo client when DODO_PAYMENTS_API_KEY is set (None: the caller says what it could not
    check); a key without its environment exits with the one line that says so."""
    from worker import dodo

    try:
        settings = config.load(need_redis=False, need_webhook_key=False)
    except config.ConfigError as exc:
        sys.exit(f"config error: {exc}")
    return dodo.make_client(settings) if settings.dodo_api_key else None


def access(customer_id: str) -> None:
    """As the access API answers: what counts now, under the project's access.yaml."""
    from worker.access import config as access_config
    from worker.access import grants
    from worker.folder import yamlsource

    directory = project.rules_dir()
    try:
        policy = access_config.load(directory / "access.yaml", directory)
    except yamlsource.ProblemsFound as found:
        sys.exit("\n".join(str(p) for p in found.problems))
    print(json.dumps(grants.view(policy, connect().get(keys.access(customer_id)), customer_id), indent=2))


def events_tail(stream: str, from_start: bool) -> None:
    """Print the stream as JSON lines (`data` parsed), following it until Ctrl-C."""
    client = connect()
    last = "0-0" if from_start else "$"
    try:
        while True:
            batches: Any = client.xread({stream: last}, block=1000, count=100)
            for _, entries in batches or []:
                for entry_id, fields in entries:
                    print(json.dumps({**fields, "data": json.loads(fields.get("data", "null"))}), flush=True)
                    last = entry_id
    except KeyboardInterrupt:
        return
    except redis.RedisError as exc:
        sys.exit(f"lost Redis while following {stream} ({type(exc).__name__})")


def dead_letters_list() -> None:
    from worker.queue import deadletters

    found = deadletters.all_records(connect())
    for record in found:
        hidden = ("body", "args") if record.get("body") is not None else ("body",)  # a payload, or only ids
        print(json.dumps({k: v for k, v in record.items() if k not in hidden}))
    if not found:
        none("no dead letters")


def dead_letters_replay(record_id: str, body_file: str | None) -> None:
    client = connect()
    body = read_text(body_file, "--body") if body_file else None
    from worker.queue import deadletters

    try:
        entry = deadletters.replay(client, record_id, body)
    except KeyError:
        sys.exit(f"no dead letter {record_id!r}: `dodo-upsell dead-letters list` shows them")
    except ValueError as exc:
        sys.exit(str(exc))
    print(f"replayed {entry['id']} to {entry['actor']}")


def read_text(path: str, what: str) -> str:
    """A file a user named, or exit with one line saying which and why."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        sys.exit(f"{what} {path}: {exc.strerror or exc}")


def deliveries_list(endpoint_id: str | None) -> None:
    """Dead deliveries as JSON lines (ids, type, attempts, error; not the event's data)."""
    from worker.delivery import outbox

    found = outbox.dead_records(connect(), endpoint_id)
    for record in found:
        print(json.dumps({k: v for k, v in record.items() if k != "item"}))
    if not found:
        none(f"no dead deliveries{f' for {endpoint_id}' if endpoint_id else ''}")


def none(what: str) -> None:
    """An empty listing says so, on stderr: standard output stays JSON lines for a pipe."""
    print(f"none: {what}", file=sys.stderr)


def deliveries_replay(record_id: str | None, endpoint_id: str | None, everything: bool) -> None:
    from worker.delivery import outbox

    client = connect()
    if record_id is None and not (endpoint_id and everything):
        sys.exit("name a delivery (`deliveries replay ID`) or all of an endpoint's (`--endpoint E --all`)")
    chosen = [record_id] if record_id else [r["id"] for r in outbox.dead_records(client, endpoint_id)]
    for one in chosen:
        try:
            record = outbox.replay(client, one)
        except KeyError:
            sys.exit(f"no dead delivery {one!r}: `dodo-upsell deliveries list` shows them")
        print(f"queued again: {record['id']} ({record['type']} for {record['customer_id']})")
    if not chosen:
        print(f"no dead deliveries for {endpoint_id}")


def backtest(book: Book, directory: Path, since: str, until: str, as_json: bool) -> None:
    from worker.replay import backtest as replay
    from worker.replay import backtest_report

    try:
        start, end = replay.parse_moment(since), replay.parse_moment(until)
        result = replay.backtest(connect(), book, events_stream(), start, end, dodo_or_none())
    except ValueError as exc:
        sys.exit(f"backtest: {exc}")
    print(json.dumps(result, indent=2) if as_json else backtest_report.table(result, str(directory)))


def stats(since: str, until: str, rule: str | None, as_json: bool, by_version: bool = False) -> None:
    from worker.stats import report, versions

    try:
        start, end = report.parse_moment(since), report.parse_moment(until)
        result = report.report(connect(), start, end, rule)
    except ValueError as exc:
        sys.exit(f"stats: {exc}")
    if by_version:
        split = versions.split(connect(), start, end, rule)
        print(json.dumps({"since": result["since"], "until": result["until"], "rules": split}, indent=2))
        return
    print(json.dumps(result, indent=2) if as_json else report.table(result))


def schedule(customer_id: str | None, due_within: str | None, as_json: bool) -> None:
    from worker.cli import jobs
    from worker.folder.yamlsource import parse_duration

    try:
        within = min(parse_duration(due_within), 1000 * 365 * 86400) if due_within else None
    except ValueError as exc:
        sys.exit(f"--due-within: {exc}")
    rows = jobs.listing(connect(), customer_id, within, time.time())
    print(json.dumps(rows, indent=2) if as_json else jobs.table(rows))


def rules_history(between: list[str] | None) -> None:
    """One JSON line per rule set that went live (version, time, files changed, git), or a diff."""
    from worker.rules import history

    client = connect()
    if between:
        found = [history.read(client, version) for version in between]
        missing = [v for v, f in zip(between, found, strict=True) if f is None]
        if missing:
            sys.exit(f"no recorded rule set {missing[0]!r}: `dodo-upsell rules history` lists them")
        print(history.diff(found[0]["files"], found[1]["files"]) or "no difference", end="")  # type: ignore[index]
        return
    listed = history.listing(client)
    for entry in listed:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry["at"]))
        print(json.dumps(entry | {"at": at}))
    if not listed:
        none("no rule set recorded yet (a worker records each one it loads)")


def rules_test(book: Book, directory: Path, junit_file: str | None, quiet: bool = False) -> None:
    """Each failure with its `file:line`, then a summary; exit 1 when any scenario failed. Quiet
    (`rules check`): only when the folder has scenarios, and their failures are warnings there: the
    rules themselves are valid, and `rules test` is the command that fails on them."""
    from worker.replay import rulestest, scenarios

    if quiet and not scenarios.files(directory):
        return
    started = time.perf_counter()
    results, problems = rulestest.run(book, directory)
    warn = "warning: " if quiet else ""
    for line in [*(str(p) for p in problems), *(f for r in results for f in r.failures)]:
        print(f"{warn}{line}", file=sys.stderr)
    failed = sum(bool(r.failures) for r in results) + len(problems)
    took = time.perf_counter() - started
    errors = f", {len(problems)} file error(s)" if problems else ""
    passed = sum(not r.failures for r in results)
    print(f"{warn}rules test: {passed} of {len(results)} scenarios passed{errors} ({took:.2f} s)", file=sys.stderr)
    if junit_file:
        Path(junit_file).write_text(rulestest.junit(results, problems))
    if quiet:
        return
    if failed or not results:
        sys.exit(1 if failed else f"no scenarios in {directory / scenarios.FOLDER} (tests/*.yaml)")
