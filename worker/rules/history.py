"""Every rule set that went live, kept in Redis: its version (the hash of the folder's files), when,
the files and their text, which files changed from the set before (with a unified diff), and the
git commit and author when the folder is a git checkout. Recorded once per version by whichever
worker process loads it first; `dodo-upsell rules history` lists them and diffs any two."""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from worker import keys

KEEP = 500  # versions kept; older ones go (their offers keep their version id)


def files_of(directory: Path) -> dict[str, str]:
    found = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    return {path.name: path.read_text(encoding="utf-8", errors="replace") for path in found}


def _git(directory: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run([git, "-C", str(directory), *args], capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_of(directory: Path) -> dict[str, Any] | None:
    """The checkout's last commit touching the folder, its author, and whether the files on disk
    differ from it; None outside git."""
    parts = (_git(directory, "log", "-1", "--format=%H%x1f%an%x1f%aI", "--", ".") or "").split("\x1f")
    if len(parts) != 3:
        return None
    dirty = bool(_git(directory, "status", "--porcelain", "--", "."))
    return {"commit": parts[0], "author": parts[1], "committed_at": parts[2], "uncommitted_changes": dirty}


def diff(before: dict[str, str], after: dict[str, str]) -> str:
    lines: list[str] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ""), after.get(name, "")
        if old != new:
            lines += difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"
            )
    return "".join(lines)


def record(client: redis.Redis, directory: Path, version: str) -> bool:
    """Record `version` (the set just loaded from `directory`) unless it is recorded already."""
    key = keys.rules_version(version)
    if client.exists(key):
        return False
    files = files_of(directory)
    latest: Any = client.zrevrange(keys.RULES_VERSIONS, 0, 0)
    before = read(client, _text(latest[0])) if latest else None
    previous = before["files"] if before else {}
    now = time.time()
    entry = {
        "version": version,
        "at": now,
        "files": files,
        "changed": sorted(n for n in set(files) | set(previous) if files.get(n) != previous.get(n)),
        "previous": before["version"] if before else None,
        "diff": diff(previous, files),
        "git": git_of(directory),
    }
    if not client.set(key, json.dumps(entry), nx=True):
        return False
    with client.pipeline() as pipe:
        pipe.zadd(keys.RULES_VERSIONS, {version: now})
        pipe.zremrangebyrank(keys.RULES_VERSIONS, 0, -(KEEP + 1))
        pipe.execute()
    return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read(client: redis.Redis, version: str) -> dict[str, Any] | None:
    raw = client.get(keys.rules_version(version))
    return json.loads(raw) if raw else None


def listing(client: redis.Redis) -> list[dict[str, Any]]:
    """Every recorded version, oldest first, without the file texts."""
    versions: Any = client.zrange(keys.RULES_VERSIONS, 0, -1)
    found = [read(client, _text(v)) for v in versions]
    return [{k: v for k, v in e.items() if k not in ("files", "diff")} for e in found if e]
