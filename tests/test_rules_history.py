"""Rule set history: every set that went live is recorded once (version, time, files changed with a
diff, the git commit and author of a checkout), offers carry the version that made them, and a
rule's figures split by version (`stats --by-version`, `rules history`, `rules history --diff`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import redis

from tests.conftest import Stack, wait_until
from tests.test_charges import RULES, pending_offer, purchase
from worker import keys
from worker.rules import history


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | stack.env()
    return subprocess.run([sys.executable, "-m", "worker", *args], env=env, capture_output=True, text=True, timeout=60)


def test_an_edit_is_a_new_version_with_its_diff_and_figures_split_by_version(stack: Stack, client: redis.Redis) -> None:
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    git = ["git", "-C", str(stack.rules_dir), "-c", "user.name=Ada Operator", "-c", "user.email=ada@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first rules"], check=True)
    stack.emulator()
    stack.web()
    stack.worker(threads=8)
    first = pending_offer(stack, client, purchase("cus_hist_1"))
    (v1,) = [e["version"] for e in history.listing(client)]
    assert first["rule_set"] == v1
    entry = history.read(client, v1)
    assert entry and entry["git"]["author"] == "Ada Operator" and not entry["git"]["uncommitted_changes"]

    edited = RULES.replace(
        "offer: {type: one_click, product: pdt_ADDON0priority7Kq}",
        "offer: {type: one_click, product: pdt_ADDON0priority7Kq, quantity: 2}",
    )
    assert edited != RULES
    (stack.rules_dir / "upsell.yaml").write_text(edited)
    wait_until(lambda: len(history.listing(client)) == 2, 20, what="the edit recorded as a new version")
    second = history.listing(client)[1]
    assert second["changed"] == ["upsell.yaml"] and second["previous"] == v1
    assert (
        "+    offer: {type: one_click, product: pdt_ADDON0priority7Kq, quantity: 2}"
        in history.read(client, second["version"])["diff"]
    )  # type: ignore[index]
    assert second["git"]["uncommitted_changes"], "the files on disk differ from the commit"
    later = pending_offer(stack, client, purchase("cus_hist_2"))
    assert later["rule_set"] == second["version"]

    listed = cli(stack, "rules", "history")
    assert [json.loads(line)["version"] for line in listed.stdout.splitlines()] == [v1, second["version"]]
    shown = cli(stack, "rules", "history", "--diff", v1, second["version"])
    assert shown.stdout.startswith("--- a/upsell.yaml") and "quantity: 2" in shown.stdout
    split = json.loads(cli(stack, "stats", "--by-version").stdout)["rules"]["addon"]
    assert {v: row["created"] for v, row in split.items()} == {v1: 1, second["version"]: 1}
    assert client.zcard(keys.RULES_VERSIONS) == 2, "each version recorded once, by whichever worker loads it first"
