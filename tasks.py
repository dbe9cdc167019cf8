"""Set-up with nothing but Python: `python3 tasks.py dev` runs it, `python3 tasks.py test` tests it,
`python3 tasks.py lint` runs ruff, mypy and the layers contract (import-linter) as CI does,
`python3 tasks.py mutants [MODULE ...]` runs mutation testing (tests/mutants.py; not in CI: minutes),
`python3 tasks.py client` regenerates the TypeScript client (clients/typescript) from the OpenAPI document,
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


def ensure_system_tools() -> None:
    """Chromium and chromedriver (the browser tests) and promtool (the alerts' tests, from Debian's
    `prometheus` package): installed from the system's packages when missing and this runs as root
    (CI, a fresh container); else those tests say what to install."""
    apt = shutil.which("apt-get")
    wanted = [] if shutil.which("chromedriver") else ["chromium", "chromium-driver"]
    wanted += [] if shutil.which("promtool") else ["prometheus"]
    if not wanted or os.geteuid() != 0 or apt is None:
        return
    say(f"installing {', '.join(wanted)} with apt-get (the browser and alert tests need them; once)")
    packages = [apt, "install", "-y", "-q", *wanted]
    if subprocess.run(packages, capture_output=True).returncode != 0:
        say("apt-get update first (the package lists were missing or old)")
        subprocess.run([apt, "update", "-q"], check=True, capture_output=True)
        subprocess.run(packages, check=True, capture_output=True)
    say(f"{', '.join(wanted)} installed")


NODE_PACKAGES = (ROOT / "tests" / "node", ROOT / "clients" / "typescript", ROOT / "examples" / "nextjs")
CLIENT = ROOT / "clients" / "typescript"


def ensure_node_packages() -> None:
    """The JavaScript the tests run (OpenFeature's SDKs, the TypeScript client's tools, the Next.js
    recipes' types): `npm ci` from each committed lock file, once per lock file (npm and Node.js
    are the machine's, installed with apt-get when missing and root; without them those tests skip)."""
    npm, apt = shutil.which("npm"), shutil.which("apt-get")
    if npm is None and os.geteuid() == 0 and apt is not None:
        say("installing Node.js and npm with apt-get (the JavaScript tests need them; once)")
        for package in ("nodejs", "npm"):  # Debian's npm is its own package; NodeSource's nodejs carries it
            if shutil.which(package.replace("nodejs", "node")) is None:
                subprocess.run([apt, "install", "-y", "-q", package], capture_output=True)
        npm = shutil.which("npm")
    if npm is None:
        say("Node.js/npm not found: the JavaScript tests will be skipped")
        return
    for folder in NODE_PACKAGES:
        stamp = folder / "node_modules" / ".installed"
        want = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
        if stamp.is_file() and stamp.read_text() == want:
            continue
        say(f"npm ci in {folder.relative_to(ROOT)} (once per package-lock.json)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True)
        stamp.write_text(want)


def regenerate_client() -> None:
    """`python3 tasks.py client`: the TypeScript client and <upsell-offers> again from the receiver's
    OpenAPI document and the offer page's words, and the built element copied where the receiver serves it."""
    ensure_node_packages()
    subprocess.run([str(BIN / "python"), str(CLIENT / "scripts" / "inputs.py")], check=True)
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("tasks.py client: needs Node.js 20.19+ and npm")
    for script in ("generate", "build"):
        subprocess.run([npm, "run", "--silent", script], cwd=CLIENT, check=True)
    shutil.copyfile(CLIENT / "dist" / "upsell-offers.js", ROOT / "receiver" / "pages" / "static" / "upsell-offers.js")
    say("clients/typescript regenerated; commit src/client, dist and receiver/pages/static with the change")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("dev", "test", "lint", "mutants", "install", "client"):
        sys.exit("usage: python3 tasks.py dev|test|lint|mutants|install|client [args...]")
    ensure_env()
    if sys.argv[1] == "install":  # .venv ready: production commands run from .venv/bin
        return
    if sys.argv[1] == "client":
        return regenerate_client()
    command, rest = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if command == "lint":
        for tool in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"], ["lint-imports"]):
            subprocess.run([str(BIN / tool[0]), *tool[1:]], check=True)
        return
    if command == "test":
        ensure_system_tools()
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
