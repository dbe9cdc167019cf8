"""What the worker counts for operators. In a `dramatiq` worker these values live in Dramatiq's
multiprocess folder, which its exporter on `dramatiq_prom_port` serves; elsewhere they are in-process.

The metrics are made on first use, not at import: prometheus_client picks its storage when first
imported, and a worker process points it at that folder only once it boots (actors.ProcessSetup)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    WORKER_ONLY: CollectorRegistry
    RULES_VALID: Gauge
    RULES_RELOAD_ERRORS: Counter
    RULES_LOAD_SECONDS: Histogram
    OFFERS: Counter
    CHARGES: Counter
    DELIVERIES: Counter
    DELIVERY_PENDING: Gauge
    DELIVERY_OLDEST: Gauge
    SCHEDULE_LAG: Gauge
    BACKGROUND_ERRORS: Counter


def _make() -> dict[str, Any]:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    # Metrics only a worker has: off the receiver's own /metrics (where `upsell_rules_valid 0` would lie).
    # A worker's exporter reads the multiprocess folder, whatever registry a metric is in.
    WORKER_ONLY = CollectorRegistry()
    RULES_VALID = Gauge(
        "upsell_rules_valid",
        "1 when the rule files on disk are the ones in force, 0 when a broken edit is ignored",
        multiprocess_mode="livemin",
        registry=WORKER_ONLY,
    )
    RULES_RELOAD_ERRORS = Counter(
        "upsell_rules_reload_errors_total", "Rule file reloads rejected for errors", registry=WORKER_ONLY
    )
    RULES_LOAD_SECONDS = Histogram(
        "upsell_rules_load_seconds", "Time to load and validate the rule folder", registry=WORKER_ONLY
    )
    OFFERS = Counter(
        "upsell_offers_total",
        "Offer events by rule: created, accepted, converted, declined, expired, failed",
        ["rule", "event"],
    )
    CHARGES = Counter(
        "upsell_charges_total",
        "One-click charge attempts by rule and result: sent, call_failed, fallback",
        ["rule", "result"],
        registry=WORKER_ONLY,
    )
    DELIVERIES = Counter(
        "upsell_deliveries_total",
        "Outbound webhook attempts by endpoint and outcome: delivered, failed_attempt, dead",
        ["endpoint", "outcome"],
        registry=WORKER_ONLY,
    )
    DELIVERY_PENDING = Gauge(
        "upsell_delivery_pending",
        "Events waiting for delivery, by endpoint",
        ["endpoint"],
        multiprocess_mode="livemax",
        registry=WORKER_ONLY,
    )
    DELIVERY_OLDEST = Gauge(
        "upsell_delivery_oldest_pending_seconds",
        "Age of the oldest event waiting for delivery, by endpoint",
        ["endpoint"],
        multiprocess_mode="livemax",
        registry=WORKER_ONLY,
    )
    SCHEDULE_LAG = Gauge(
        "upsell_schedule_lag_seconds",
        "How late the oldest due job was when the schedule was last polled (0 when none was due)",
        multiprocess_mode="livemax",
        registry=WORKER_ONLY,
    )

    BACKGROUND_ERRORS = Counter(
        "upsell_background_errors_total",
        "Unexpected errors in a background loop (rules reload, schedule, delivery dispatch, events trim);"
        " it kept running",
        ["loop"],
    )
    return {
        "WORKER_ONLY": WORKER_ONLY,
        "RULES_VALID": RULES_VALID,
        "RULES_RELOAD_ERRORS": RULES_RELOAD_ERRORS,
        "RULES_LOAD_SECONDS": RULES_LOAD_SECONDS,
        "OFFERS": OFFERS,
        "CHARGES": CHARGES,
        "DELIVERIES": DELIVERIES,
        "DELIVERY_PENDING": DELIVERY_PENDING,
        "DELIVERY_OLDEST": DELIVERY_OLDEST,
        "SCHEDULE_LAG": SCHEDULE_LAG,
        "BACKGROUND_ERRORS": BACKGROUND_ERRORS,
    }


def __getattr__(name: str) -> Any:
    """The first metric asked for makes them all, once; they are module attributes from then on."""
    if not name.isupper():  # dunders and the like that tools probe for
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _making:
        made = globals().get("_made") or _make()
        globals().update(made, _made=made)
    if name not in made:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return made[name]


_making = threading.Lock()


def background_error(loop: str, log: Any, exc: BaseException) -> None:
    """A background loop survives anything: the error is logged (type and traceback) and counted."""
    __getattr__("BACKGROUND_ERRORS").labels(loop).inc()
    log.error(f"{loop}_error", error=type(exc).__name__, exc_info=exc, hint="the loop keeps running; please report it")


def forget_dead_processes() -> None:
    """Drop the live gauges of worker processes that died without saying so (SIGKILL, OOM), so a
    dead process's `upsell_rules_valid 0` does not outlive it. Counters stay: they were counted."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    from prometheus_client import multiprocess

    for file in Path(folder).glob("gauge_live*_*.db"):
        pid = int(file.stem.rsplit("_", 1)[1])
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, folder)


def _alive(pid: int) -> bool:
    """Running, and not a zombie nobody reaped (containers whose init does not reap keep those)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
