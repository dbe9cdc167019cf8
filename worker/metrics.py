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
    DELIVERY_DISABLED: Gauge
    SCHEDULE_LAG: Gauge
    DEAD_LETTERS: Gauge
    DELIVERIES_DEAD: Gauge
    CHARGING_OLDEST: Gauge
    BACKGROUND_ERRORS: Counter


# name: (kind, metric, help, labels, multiprocess mode of a gauge, worker only). Worker-only metrics
# stay off the receiver's own /metrics (where `upsell_rules_valid 0` would lie); a worker's exporter
# reads the multiprocess folder, whatever registry a metric is in.
_SPECS: dict[str, tuple[str, str, str, tuple[str, ...], str, bool]] = {
    "RULES_VALID": (
        "gauge",
        "upsell_rules_valid",
        "1 when the rule files on disk are the ones in force, 0 when a broken edit is ignored",
        (),
        "livemin",
        True,
    ),
    "RULES_RELOAD_ERRORS": (
        "counter",
        "upsell_rules_reload_errors_total",
        "Rule file reloads rejected for errors",
        (),
        "",
        True,
    ),
    "RULES_LOAD_SECONDS": (
        "histogram",
        "upsell_rules_load_seconds",
        "Time to load and validate the rule folder",
        (),
        "",
        True,
    ),
    "OFFERS": (
        "counter",
        "upsell_offers_total",
        "Offer events by rule: created, accepted, converted, declined, expired, failed",
        ("rule", "event"),
        "",
        False,
    ),
    "CHARGES": (
        "counter",
        "upsell_charges_total",
        "One-click charge attempts by rule and result: sent, call_failed, fallback",
        ("rule", "result"),
        "",
        True,
    ),
    "DELIVERIES": (
        "counter",
        "upsell_deliveries_total",
        "Outbound webhook attempts by endpoint and outcome: delivered, failed_attempt, dead",
        ("endpoint", "outcome"),
        "",
        True,
    ),
    "DELIVERY_PENDING": (
        "gauge",
        "upsell_delivery_pending",
        "Events waiting for delivery, by endpoint",
        ("endpoint",),
        "livemax",
        True,
    ),
    "DELIVERY_OLDEST": (
        "gauge",
        "upsell_delivery_oldest_pending_seconds",
        "Age of the oldest event waiting for delivery, by endpoint",
        ("endpoint",),
        "livemax",
        True,
    ),
    "DELIVERY_DISABLED": (
        "gauge",
        "upsell_delivery_endpoint_disabled",
        "1 while the endpoint is disabled (410 Gone, or failing for days), by endpoint",
        ("endpoint",),
        "livemax",
        True,
    ),
    "SCHEDULE_LAG": (
        "gauge",
        "upsell_schedule_lag_seconds",
        "How late the oldest due job was when the schedule was last polled (0 when none was due)",
        (),
        "livemax",
        True,
    ),
    "DEAD_LETTERS": (
        "gauge",
        "upsell_dead_letters",
        "Messages the worker gave up on, waiting for an operator (dodo-upsell dead-letters list)",
        (),
        "livemax",
        True,
    ),
    "DELIVERIES_DEAD": (
        "gauge",
        "upsell_deliveries_dead",
        "Outbound deliveries dead after their last attempt, waiting for a replay",
        (),
        "livemax",
        True,
    ),
    "CHARGING_OLDEST": (
        "gauge",
        "upsell_offers_charging_oldest_seconds",
        "How long the oldest offer has been charging (0 when none is); the last reconcile is 24 h after the attempt",
        (),
        "livemax",
        True,
    ),
    "BACKGROUND_ERRORS": (
        "counter",
        "upsell_background_errors_total",
        "Unexpected errors in a background loop (rules reload, schedule, delivery dispatch, events trim);"
        " it kept running",
        ("loop",),
        "",
        False,
    ),
}


def _make() -> dict[str, Any]:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

    worker_only = CollectorRegistry()
    made: dict[str, Any] = {"WORKER_ONLY": worker_only}
    for name, (kind, metric, doc, labels, mode, own) in _SPECS.items():
        registry = worker_only if own else REGISTRY
        if kind == "gauge":
            made[name] = Gauge(metric, doc, labels, multiprocess_mode=mode, registry=registry)  # type: ignore[arg-type]
        else:
            made[name] = (Counter if kind == "counter" else Histogram)(metric, doc, labels, registry=registry)
    return made


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
