"""Set-up with nothing but Python: `python3 tasks.py dev` runs it, `python3 tasks.py test` tests it,
`python3 tasks.py lint` runs ruff, mypy and the layers contract (import-linter) as CI does,
`python3 tasks.py mutants [MODULE ...]` runs mutation testing (tests/mutants.py; not in CI: minutes),
`python3 tasks.py install` only makes .venv.

Creates .venv, installs the project (with test extras) into it when pyproject.toml changed, then
runs the command inside it. Extra arguments pass through (e.g. `python3 tasks.py test -k access`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"


def say(step: str) -> None:
    """A first run takes a minute or more: each step says what it is doing, on stderr."""
    print(f"tasks.py: {step}", file=sys.stderr, flush=True)


def ensure_env() -> None:
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == want:
        return
    if not (BIN / "python").exists():
        say(f"creating {VENV} (once)")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing the project and its test tools into .venv (about a minute; again when pyproject.toml changes)")
    subprocess.run(
        [BIN / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", f"{ROOT}[test]"], check=True
    )
    STAMP.write_text(want)
    say("installed")


def ensure_browser() -> None:
    """The console's browser test drives the system's Chromium: installed from the system's
    packages when missing and this runs as root (CI, a fresh container); else the test says what to install."""
    apt = shutil.which("apt-get")
    if shutil.which("chromedriver") or os.geteuid() != 0 or apt is None:
        return
    say("installing Chromium and chromedriver with apt-get (the console's browser test drives them; once)")
    packages = [apt, "install", "-y", "-q", "chromium", "chromium-driver"]
    if subprocess.run(packages, capture_output=True).returncode != 0:
        say("apt-get update first (the package lists were missing or old)")
        subprocess.run([apt, "update", "-q"], check=True, capture_output=True)
        subprocess.run(packages, check=True, capture_output=True)
    say("Chromium installed")


NODE_TESTS = ROOT / "tests" / "node"


def ensure_node_packages() -> None:
    """OpenFeature's JavaScript SDKs for the interop tests: `npm ci` from the committed lock file,
    once per lock file (npm and Node.js are the machine's; without them those tests say so and skip)."""
    npm = shutil.which("npm")
    lock = NODE_TESTS / "package-lock.json"
    stamp = NODE_TESTS / "node_modules" / ".installed"
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    if npm is None or (stamp.is_file() and stamp.read_text() == want):
        return
    say("installing OpenFeature's JavaScript SDKs with npm ci (tests/node; once per package-lock.json)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_TESTS, check=True)
    stamp.write_text(want)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("dev", "test", "lint", "mutants", "install"):
        sys.exit("usage: python3 tasks.py dev|test|lint|mutants|install [args...]")
    ensure_env()
    if sys.argv[1] == "install":  # .venv ready: production commands run from .venv/bin
        return
    command, rest = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if command == "lint":
        for tool in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"], ["lint-imports"]):
            subprocess.run([str(BIN / tool[0]), *tool[1:]], check=True)
        return
    if command == "test":
        ensure_browser()
        ensure_node_packages()
    if command == "dev":
        argv = [str(BIN / "dodo-upsell"), "dev", *rest]
    elif command == "mutants":
        argv = [str(BIN / "python"), "-m", "tests.mutants", *rest]
    else:
        argv = [str(BIN / "python"), "-m", "pytest", *rest]
    os.chdir(ROOT)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
