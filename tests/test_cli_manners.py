"""The CLI's small manners a newcomer meets in the first hour: help without noise, errors that blame
the right input, empty listings that say so, a schedule without jobs that will do nothing."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from tests.conftest import ROOT, STREAM
from worker.cli import jobs, main
from worker.offers import making, store
from worker.offers.model import Offer
from worker.queue import schedule

CLI = str(Path(sys.executable).parent / "dodo-upsell")
COMMANDS = [
    [],
    ["dev"],
    ["web"],
    ["worker"],
    ["send"],
    ["access"],
    ["stats"],
    ["schedule"],
    ["demo"],
    ["emulator"],
    ["events"],
    ["events", "tail"],
    ["rules"],
    ["rules", "check"],
    ["rules", "explain"],
    ["rules", "backtest"],
    ["dead-letters"],
    ["dead-letters", "list"],
    ["dead-letters", "replay"],
    ["deliveries"],
    ["deliveries", "list"],
    ["deliveries", "replay"],
]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def _help_of(command: list[str]) -> str:
    """What `dodo-upsell COMMAND --help` prints, from the parser itself (no process per command)."""
    parser: Any = main.parser()
    for name in command:
        actions = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = actions.choices[name]
    return str(parser.format_help())


def test_help_says_each_default_once_and_every_action_what_it_does() -> None:
    assert run("rules", "check", "--help").stdout.startswith("usage: dodo-upsell rules check")
    for command in COMMANDS:
        shown = _help_of(command)
        text = " ".join(shown.split())
        assert "(default: None)" not in text and "(default: False)" not in text, command
        assert not re.search(r"\(default: [^)]*\) \(default:", text), (command, text)
        if len(command) == 2:
            description = shown.split("\n\n")[1]
            assert not description.startswith(("positional", "options")), (command, "no description")


def test_send_blames_the_input_that_is_wrong(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "UPSELL_PROJECT_DIR": str(tmp_path)}
    payload = str(ROOT / "emulator" / "templates" / "payment.succeeded.json")
    flag = run("send", payload, "--secret", "foo", env=env)
    assert flag.returncode == 1 and flag.stderr.startswith("--secret: ") and "DODO_" not in flag.stderr
    variable = run("send", payload, env=env | {"DODO_PAYMENTS_WEBHOOK_KEY": "bar"})
    assert variable.returncode == 1 and variable.stderr.startswith("DODO_PAYMENTS_WEBHOOK_KEY: ")


def test_empty_listings_say_none(redis_url: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REDIS_URL": redis_url}
    for command in (["dead-letters", "list"], ["deliveries", "list"]):
        done = run(*command, env=env)
        assert done.returncode == 0 and done.stdout == "" and done.stderr.startswith("none: "), (command, done)


def test_the_schedule_leaves_out_jobs_whose_offer_has_moved_on(client: redis.Redis) -> None:
    now = datetime.now(UTC)
    offer = Offer(
        offer_id="off_settled",
        rule_id="r",
        variant="default",
        customer_id="cus_s",
        type="one_click",
        product_id="p",
        quantity=1,
        created_at=now.isoformat(),
        expires_at=(now + timedelta(days=1)).isoformat(),
        source="wh",
        trigger="payment.succeeded",
    )
    assert store.create(client, STREAM, offer, once=False, cooldown=False) == "created"
    trigger = making.offer_trigger(offer, "offer.created")
    with client.pipeline() as pipe:
        schedule.add(pipe, "rule:reminder", time.time() + 3600, "fire_rule", "reminder", trigger.dumps())
        pipe.execute()
    assert {row["what"] for row in jobs.listing(client, "cus_s", None, time.time())} == {
        "expire offer off_settled",
        "fire rule reminder",
    }
    assert store.transition(client, STREAM, "off_settled", "charging")[0]
    assert store.transition(client, STREAM, "off_settled", "converted", event_type="offer.converted")[0]
    assert jobs.listing(client, "cus_s", None, time.time()) == [], "nothing left that would do anything"
    assert client.hget("upsell:jobs", "expire:off_settled") is None, "the expiry job went with the pending state"
