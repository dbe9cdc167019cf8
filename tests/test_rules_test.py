"""`dodo-upsell rules test`: the shipped scenarios pass (one at least per shipped rule); a scenario
that fails names its step's file:line and exits 1 (also through `rules check`); JUnit XML for CI; a
file error is a `file:line` error; the clock moves (a rule delayed 7 days makes nothing at 6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import yaml

from tests.conftest import ROOT

CLI = [sys.executable, "-m", "worker"]


def rules_test(folder: Path, *extra: str, action: str = "test") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DODO_", "UPSELL_", "REDIS_"))}
    return subprocess.run(
        [*CLI, "rules", action, str(folder), *extra], env=env, capture_output=True, text=True, timeout=60
    )


def shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


def test_the_shipped_scenarios_pass_and_cover_every_shipped_rule(tmp_path: Path) -> None:
    done = rules_test(ROOT / "rules", "--junit", str(tmp_path / "junit.xml"))
    assert done.returncode == 0, done.stderr
    assert "10 of 10 scenarios passed" in done.stderr
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == "10" and suite.get("failures") == "0"
    rules = {r["id"] for r in yaml.safe_load((ROOT / "rules" / "upsell.yaml").read_text())["rules"]}
    text = (ROOT / "rules" / "tests" / "upsell.yaml").read_text()
    assert all(rule in text for rule in rules), "a scenario names every shipped rule"


def test_a_failing_scenario_names_its_line_and_exits_1(tmp_path: Path) -> None:
    folder = shipped(tmp_path)
    scenario = folder / "tests" / "upsell.yaml"
    lines = scenario.read_text().splitlines()
    wrong = next(n for n, line in enumerate(lines, 1) if "discount: COMEBACK," in line)
    scenario.write_text(scenario.read_text().replace("discount: COMEBACK,", "discount: COMEBACK50,"))
    done = rules_test(folder, "--junit", str(tmp_path / "junit.xml"))
    assert done.returncode == 1
    assert f"tests/upsell.yaml:{wrong}: scenario 'a cancelled subscriber is won back" in done.stderr, done.stderr
    assert "code COMEBACK at" in done.stderr, "what was made instead"
    failures = ElementTree.parse(tmp_path / "junit.xml").getroot().findall(".//failure")
    assert len(failures) == 1 and f"upsell.yaml:{wrong}" in (failures[0].get("message") or "")
    checked = rules_test(folder, action="check")
    assert checked.returncode == 0, "the rules are valid: `rules check` passes, `rules test` is what fails"
    assert f"warning: {folder}/tests/upsell.yaml:{wrong}:" in checked.stderr, "rules check runs them too"


def test_time_is_moved_and_rule_edits_are_caught(tmp_path: Path) -> None:
    folder = shipped(tmp_path)
    rules = folder / "upsell.yaml"
    rules.write_text(rules.read_text().replace("delay: 7d", "delay: 5d"))
    done = rules_test(folder)
    assert done.returncode == 1 and "expected no offer from 'win-back'" in done.stderr, done.stderr


def test_a_scenario_file_error_is_a_file_line_error(tmp_path: Path) -> None:
    folder = shipped(tmp_path)
    (folder / "tests" / "broken.yaml").write_text(
        "scenarios:\n  - name: x\n    steps:\n      - webhook: payment.succeeded\n        colour: red\n"
    )
    (folder / "tests" / "unknown.yaml").write_text(
        "scenarios:\n  - name: y\n    steps:\n      - webhook: payment.nonsense\n"
    )
    done = rules_test(folder)
    assert done.returncode == 1
    assert "tests/broken.yaml:5:" in done.stderr and "colour" in done.stderr, done.stderr
    assert (
        "tests/unknown.yaml:4: scenario 'y': the step could not run: no webhook sample 'payment.nonsense'"
        in done.stderr
    )


def test_access_expectations_fail_on_each_part(tmp_path: Path) -> None:
    folder = shipped(tmp_path)
    (folder / "tests" / "access.yaml").write_text(
        "scenarios:\n"
        "  - name: a pro holder\n"
        "    access: [pdt_PRO0planUpgrade9xQ]\n"
        "    steps:\n"
        "      - expect_access: {tier: pro, features: [api, reports, sso]}\n"
        "      - expect_access: {tier: basic}\n"
        "      - expect_access: {features: [reports]}\n"
        "      - expect_access: {limits: {seats: 3}}\n"
    )
    done = rules_test(folder)
    assert done.returncode == 1
    failed = [line for line in done.stderr.splitlines() if "tests/access.yaml:" in line]
    assert [line.split("tests/access.yaml:")[1].split(":")[0] for line in failed] == ["6", "7", "8"], failed
    assert "expected tier 'basic', found 'pro'" in failed[0] and "expected features ['reports']" in failed[1]
    assert "expected limit seats = 3" in failed[2]
