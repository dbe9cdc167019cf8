"""The house rules docs/architecture.md states: small modules and functions, nothing pointing outside
the repository, a short README. The layers contract itself runs in `tasks.py lint` (import-linter)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("worker", "receiver", "emulator", "dodo_upsell")


def _sources() -> list:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_modules_at_most_300_lines_and_functions_at_most_60() -> None:
    too_long = []
    for path in _sources():
        text = path.read_text()
        if len(text.splitlines()) > 300:
            too_long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, too_long


def test_nothing_in_the_repository_points_outside_it() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = "../" + "shared"
    pointing = [
        name for name in tracked if (ROOT / name).is_file() and outside in (ROOT / name).read_text(errors="replace")
    ]
    assert not pointing, pointing


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_a_first_run_of_tasks_says_each_step_it_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing silent for a minute: creating .venv, installing, and (as root, without it) Chromium."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tasks_under_test", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(tasks)  # type: ignore[union-attr]
    ran: list[list[str]] = []
    monkeypatch.setattr(tasks, "VENV", tmp_path / ".venv")
    monkeypatch.setattr(tasks, "BIN", tmp_path / ".venv" / "bin")
    monkeypatch.setattr(tasks, "STAMP", tmp_path / "stamp")
    monkeypatch.setattr(tasks.venv, "EnvBuilder", lambda **_: type("B", (), {"create": lambda self, where: None})())
    monkeypatch.setattr(
        tasks.subprocess,
        "run",
        lambda argv, **_: ran.append([str(a) for a in argv]) or type("R", (), {"returncode": 0})(),
    )
    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(tasks.os, "geteuid", lambda: 0)
    tasks.ensure_env()
    tasks.ensure_system_tools()
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tasks.py: ")]
    assert [s.split(" ")[1] for s in said] == ["creating", "installing", "installed", "installing", "chromium,"], said
    assert any("chromium" in argv and "prometheus" in argv for argv in ran)


def test_shipped_files_point_at_sections_that_exist_and_count_what_ships() -> None:
    """The rule files' comments name docs sections that are there; README and docs count the
    shipped rules as `rules check` does."""
    import re

    from worker import book

    for path in (ROOT / "rules").glob("*.yaml"):
        for doc, section in re.findall(r'(docs/\w+\.md), "([^"]+)"', path.read_text()):
            assert f"# {section}" in (ROOT / doc).read_text(), (path.name, doc, section)
        assert "README, " not in path.read_text(), f"{path.name} points at a README section that moved to docs/"
    shipped = len(book.load_dir(ROOT / "rules").rules)
    for doc in ("README.md", "docs/operators.md"):
        counts = re.findall(r"(\d+) rules, \d+ products", (ROOT / doc).read_text())
        assert counts and all(int(n) == shipped for n in counts), (doc, counts, shipped)


def test_every_variable_the_code_reads_is_in_the_operations_table_and_back() -> None:
    """docs/operations.md's table names exactly the variables the code reads (Dramatiq's own
    `dramatiq_prom_*` aside), so none is read undocumented and none documented is dead."""
    import re

    read = set()
    for folder in ("worker", "receiver", "emulator"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r'"((?:UPSELL|DODO_PAYMENTS)_[A-Z_]+|REDIS_URL)"', path.read_text()))
    table = re.findall(r"^\| (`[^|]+`) \|", (ROOT / "docs" / "operations.md").read_text(), re.M)
    documented = {name for cell in table for name in re.findall(r"`([A-Za-z_]+)`", cell)}
    documented = {name for name in documented if name.isupper()}
    assert read == documented, {"read, not documented": read - documented, "documented, not read": documented - read}
