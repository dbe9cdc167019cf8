"""What the actors share within one worker process, built by `bootstrap()`, never at import."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import dramatiq
import redis
import structlog
from dodopayments import DodoPayments

from worker import config, dodo, events, fullness, gctune, products, redisconn
from worker.book import Book, LiveBook


@dataclass(frozen=True)
class Context:
    client: redis.Redis
    stream: str
    book: LiveBook
    dodo: DodoPayments
    settings: config.Settings


_current: Context | None = None
_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """The worker's state client: timeouts under the 15 s heartbeat; connects on first use."""
    return redisconn.connect(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=10)


def bootstrap(settings: config.Settings | None = None) -> Context:
    """Read settings, load the rules (raising ProblemsFound if they are broken) and build clients."""
    global _current
    with _lock:
        if _current is None:
            settings = settings or config.load(need_webhook_key=False)
            _current = Context(
                redis_client(settings.redis_url),
                settings.events_stream,
                LiveBook(settings.rules_dir),
                dodo.make_client(settings),
                settings,
            )
        return _current


def start_background(ctx: Context) -> None:
    """What every worker process does besides messages: reload the rules, trim the stream, copy
    new events into the outbound delivery lists."""
    from worker.delivery.deliver import Dispatcher
    from worker.rules import history

    def recorded(book: Book) -> None:
        try:
            history.record(ctx.client, ctx.settings.rules_dir, book.version)
        except (redis.RedisError, OSError) as exc:  # the next process or reload records it
            structlog.get_logger("rules").warning("rules_history_not_recorded", error=type(exc).__name__)

    recorded(ctx.book.get())
    ctx.book.on_live(recorded)
    ctx.book.start()
    products.Catalogue(ctx.dodo, lambda: ctx.book.get().offered_products).start()
    events.Trimmer(ctx.client, ctx.stream, ctx.settings.events_retention_seconds).start()
    Dispatcher(redis_client(ctx.settings.redis_url), ctx.stream, lambda: ctx.book.get().endpoints).start()


def _metrics_address(settings: config.Settings) -> str:
    """Where this worker's Prometheus exporter listens (Dramatiq's variables), or that it is off."""
    if not settings.worker_metrics:
        return "off (UPSELL_WORKER_METRICS)"
    host = os.environ.get("dramatiq_prom_host", "0.0.0.0")  # noqa: S104 - Dramatiq's own default
    return f"http://{host}:{os.environ.get('dramatiq_prom_port', '9191')}/"


def current() -> Context:
    return _current or bootstrap()


class Bootstrap(dramatiq.Middleware):
    """Builds the context when a worker process boots, so a broken rule folder stops it at once
    with the file:line errors, before any message is taken."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings  # read once, when the broker was built

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        from worker import metrics
        from worker.folder import yamlsource

        metrics.forget_dead_processes()
        try:
            ctx = bootstrap(self.settings)
            start_background(ctx)
            gctune.after_start_up()
        except config.ConfigError as exc:
            raise SystemExit(f"config error: {exc}") from None
        except yamlsource.ProblemsFound as exc:
            raise SystemExit(f"rules error (fix and restart):\n{exc}") from None
        book = ctx.book.get()
        config.warn_if_no_dodo_key(ctx.settings)
        fullness.warn_unless_noeviction(ctx.client, "worker")
        structlog.get_logger("worker").info(
            "worker_ready",
            redis=config.without_password(ctx.settings.redis_url),
            rules=f"{ctx.settings.rules_dir}: {book.files} files, {len(book.rules)} rules",
            metrics=_metrics_address(ctx.settings),
            dodo=config.dodo_mode(ctx.settings),
            version=config.version(),
        )
