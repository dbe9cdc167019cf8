"""The operator's rule files, loaded whole and reloaded when they change; last good set wins."""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from worker import metrics
from worker.access import config as access_config
from worker.delivery import endpoints as outbound
from worker.folder import yamlsource
from worker.rules import match, model

log = structlog.get_logger("rules")


@dataclass(frozen=True)
class Book:
    access: access_config.AccessConfig
    rules: list[model.Rule]
    index: match.Index
    files: int
    endpoints: dict[str, outbound.Endpoint] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # endpoints left out (secret missing or malformed)
    version: str = ""  # the first 12 hex digits of the hash of every rule file's bytes (rules/history.py)

    @functools.cached_property
    def offered_products(self) -> frozenset[str]:
        """Every product a rule or variant offers: the catalogue the display cache keeps warm."""
        found = set()
        for rule in self.rules:
            if rule.offer is not None:
                found |= {rule.offer.product} | {rule.offer_for(v).product for v in rule.variants or []}
        return frozenset(found)

    @functools.cached_property
    def holdouts(self) -> bool:
        """Some rule keeps a holdout: payments then count toward lift (one read each), else not."""
        return any(rule.holdout for rule in self.rules)


def load_dir(directory: Path) -> Book:
    """Load access.yaml and every other *.yaml as rules; raise ProblemsFound with all problems.
    The cycle collector waits meanwhile: a large folder allocates millions of small objects, none
    cyclic, and its passes took over half the time (10,000 rules, bench/rules_check.py)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load_dir(directory)
    finally:
        if paused:
            gc.enable()


def _load_dir(directory: Path) -> Book:
    path = directory / "access.yaml"
    if not directory.is_dir():
        raise yamlsource.ProblemsFound(
            [yamlsource.Problem(str(directory), 1, "not a folder: set UPSELL_RULES_DIR to the rules folder")]
        )
    if not path.is_file():
        raise yamlsource.ProblemsFound(
            [yamlsource.Problem(str(path), 1, "missing: the rules folder needs an access.yaml (docs/operators.md)")]
        )
    special = ("access.yaml", outbound.FILE)
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.name not in special)
    problems: list[yamlsource.Problem] = []
    safe, total = [], 0
    for file in [path, *files]:
        try:
            total += yamlsource.checked_size(file, directory)
            safe.append(file)
        except yamlsource.ProblemsFound as found:
            problems += found.problems
    if total > yamlsource.MAX_TOTAL_BYTES:
        limit = yamlsource.MAX_TOTAL_BYTES // 1024
        raise yamlsource.ProblemsFound(
            [*problems, yamlsource.Problem(str(directory), 1, f"files total over {limit} KiB")]
        )
    config: access_config.AccessConfig | None = None
    try:
        config = access_config.load(path, directory) if path in safe else None
    except yamlsource.ProblemsFound as found:
        problems += found.problems
    try:
        loaded = model.load_files([f for f in files if f in safe], config, directory)
    except yamlsource.ProblemsFound as found:
        problems += found.problems
    endpoints: dict[str, outbound.Endpoint] = {}
    warnings: list[str] = []
    try:
        endpoints, warnings = outbound.load(directory)
    except yamlsource.ProblemsFound as found:
        problems += found.problems
    if problems or config is None:
        raise yamlsource.ProblemsFound(problems)
    files_read = len(files) + 1 + (1 if (directory / outbound.FILE).exists() else 0)
    version = _content(directory)[:12]
    return Book(config, loaded, match.Index(loaded), files_read, endpoints, tuple(warnings), version)


def _signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((f.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def _content(directory: Path) -> str:
    """A hash of every rule file's bytes: a reload happens when this changes, not a timestamp."""
    digest = hashlib.sha256()
    for f in sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")):
        try:
            digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
        except OSError:
            continue
    return digest.hexdigest()


class LiveBook:
    """The rules in force. A background thread checks the folder every `interval` seconds and
    reloads it off the event path; a broken edit keeps the last good book and is reported at once."""

    def __init__(self, directory: Path, interval: float = 1.0, owner: str = "worker") -> None:
        self.directory = directory
        self.interval = interval
        self.owner = owner  # which process logs the reloads: the receiver and each worker keep their own
        self._signature = _signature(directory)
        self._content = _content(directory)
        self._book = load_dir(directory)
        self.loaded_at = time.time()  # when the set in force went live in this process
        self.rejected: list[str] = []  # the last reload's file:line errors while it is not fixed
        self._listeners: list[Callable[[Book], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        metrics.RULES_VALID.set(1)
        _report(self._book)

    def get(self) -> Book:
        return self._book

    @property
    def version(self) -> str:
        """The set in force (Book.version)."""
        return self._book.version

    def on_live(self, listener: Callable[[Book], None]) -> None:
        """Call `listener` with every set that goes live from now on (rule history records them)."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Begin watching (once); the thread is a daemon and ends with the process."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="upsell-rules-reload", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:  # a reload thread that dies would leave every later edit unseen
                metrics.RULES_VALID.set(0)
                metrics.background_error("rules_reload", log, exc)

    def refresh(self) -> None:
        signature = _signature(self.directory)
        if signature == self._signature:
            return
        self._signature = signature
        content = _content(self.directory)
        if content == self._content:
            return  # touched, or saved twice by an editor: the same rules, nothing to reload or say
        self._content = content
        try:
            with metrics.RULES_LOAD_SECONDS.time():
                self._book = load_dir(self.directory)
        except yamlsource.ProblemsFound as found:
            metrics.RULES_RELOAD_ERRORS.inc()
            metrics.RULES_VALID.set(0)
            self.rejected = [str(p) for p in found.problems]
            log.error(
                "rules_reload_rejected",
                directory=str(self.directory),
                process=self.owner,
                pid=os.getpid(),
                errors=len(found.problems),
                hint="fix the files; the last good rules stay in force",
            )
            for problem in self.rejected[:MAX_LOGGED_PROBLEMS]:  # a line each: none is cut to fit another
                log.error("rules_reload_error", problem=problem)
            return
        metrics.RULES_VALID.set(1)
        self.rejected, self.loaded_at = [], time.time()
        log.info("rules_reloaded", directory=str(self.directory), process=self.owner, pid=os.getpid())
        _report(self._book)
        for listener in self._listeners:
            listener(self._book)


MAX_LOGGED_PROBLEMS = 50  # `rules check` lists them all


def _report(book: Book) -> None:
    for warning in book.warnings:
        log.error("endpoint_left_out", problem=warning)
