"""The TypeScript package (clients/typescript): generated from the receiver's own OpenAPI document
and kept in step with it (regenerating changes nothing), its Node tests against the running
service, and the Next.js recipes in examples/ type-checked against it (docs/apps.md)."""

from __future__ import annotations

import filecmp
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT, TOKEN, Stack
from tests.test_charges import ADDON, CUSTOMER, charges, pending_offer, purchase
from tests.test_offer_pages import pages as pages  # the emulator, a one-click rule, web and worker

PACKAGE = ROOT / "clients" / "typescript"
RECIPES = ROOT / "examples" / "nextjs"
node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


def _node_version() -> tuple[int, ...]:
    found = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")
    return tuple(int(part) for part in found.split(".") if part.isdigit())


def _installed(folder: Path) -> None:
    assert (folder / "node_modules" / ".installed").is_file(), "run `python3 tasks.py test` (npm ci)"


def test_the_committed_inputs_are_the_receivers_document_and_words() -> None:
    """openapi.json is /api/openapi.json, words.json the offer page's words: an API change that was
    not regenerated (`python3 tasks.py client`) fails here, with or without Node.js."""
    spec = importlib.util.spec_from_file_location("inputs", PACKAGE / "scripts" / "inputs.py")
    assert spec is not None and spec.loader is not None
    inputs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inputs)
    for path, text in inputs.texts().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.relative_to(ROOT)}: run `python3 tasks.py client`"


@node
def test_regenerating_the_client_changes_nothing(tmp_path: Path) -> None:
    """The generator and the build run again on a copy: the committed client, its build and the
    element the receiver serves must be what they make."""
    if _node_version() < (20, 19):
        pytest.skip("@hey-api/openapi-ts needs Node.js 20.19 or later")
    _installed(PACKAGE)
    copy = tmp_path / "typescript"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("node_modules", "src/client", "dist"))
    (copy / "node_modules").symlink_to(PACKAGE / "node_modules")
    for script in ("generate", "build"):
        done = subprocess.run(["npm", "run", "--silent", script], cwd=copy, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    for folder in ("src/client", "dist"):
        drift = filecmp.dircmp(PACKAGE / folder, copy / folder)
        assert not _differences(drift), f"{folder} is not what the generator makes: run `python3 tasks.py client`"
    served = ROOT / "receiver" / "pages" / "static" / "upsell-offers.js"
    assert served.read_bytes() == (copy / "dist" / "upsell-offers.js").read_bytes(), "the served element is stale"


def _differences(compared: filecmp.dircmp[str]) -> list[str]:
    found = [*compared.left_only, *compared.right_only, *compared.diff_files, *compared.funny_files]
    for sub in compared.subdirs.values():
        found += _differences(sub)
    return found


@node
def test_the_client_against_the_running_service(pages: Stack, client: redis.Redis) -> None:
    """clients/typescript/test/client.test.mjs under Node's test runner: offers, accept with wait,
    decline, eligibility, app events with Idempotency-Key, access, errors as typed values."""
    _installed(PACKAGE)
    buyer, decliner = CUSTOMER, "cus_ts_decliner"  # the emulator holds a saved card for CUSTOMER
    accepted = pending_offer(pages, client, purchase(buyer))
    pending_offer(pages, client, purchase(decliner))
    env = os.environ | {
        "UPSELL_URL": pages.base_url,
        "UPSELL_TOKEN": TOKEN,
        "UPSELL_BUYER": buyer,
        "UPSELL_DECLINER": decliner,
        "UPSELL_ADDON": ADDON,
    }
    done = subprocess.run(["npm", "test"], cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 3" in done.stdout and "# fail 0" in done.stdout, done.stdout
    assert [c["body"]["metadata"]["upsell_offer_id"] for c in charges(pages)] == [accepted["offer_id"]], "once"


@node
def test_the_nextjs_recipes_type_check() -> None:
    """examples/nextjs (docs/apps.md's recipes) against the committed client, Next.js and React's
    types: `tsc --noEmit` fails on any recipe the client or the libraries no longer fit."""
    _installed(RECIPES)
    done = subprocess.run(
        ["npm", "run", "--silent", "typecheck"], cwd=RECIPES, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
