"""structlog set-up: JSON lines in production, readable lines in `dev`; context bound per event."""

from __future__ import annotations

import logging
import sys

import dramatiq
import structlog


class MessageIdsOnly(logging.Filter):
    """Dramatiq formats whole messages into some lines ("Failed to process message %s"), and a
    message's arguments are a webhook's body: card digits, e-mail, address. Name them by id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, _MESSAGES) for a in record.args):
            record.args = tuple(
                f"{a.actor_name}[{a.message_id}]" if isinstance(a, _MESSAGES) else a for a in record.args
            )
        return True


_MESSAGES = (dramatiq.Message, dramatiq.MessageProxy)


def configure(*, pretty: bool = False, level: int = logging.INFO) -> None:
    renderer = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()) if pretty else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:  # Dramatiq's own, in a worker process, and ours
        if not any(isinstance(f, MessageIdsOnly) for f in handler.filters):
            handler.addFilter(MessageIdsOnly())
