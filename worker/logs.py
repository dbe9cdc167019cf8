"""structlog set-up: JSON lines in production, readable lines in `dev`; context bound per event."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, BinaryIO

import dramatiq
import orjson
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
MAX_FIELD_CHARS = 512  # a header or id from the internet is logged at most this long: no disk filled by one request
MAX_TRACEBACK_CHARS = 8192


def capped(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Cut every string field (and strings in a list field) to MAX_FIELD_CHARS, saying so."""
    for key, value in event.items():
        limit = MAX_TRACEBACK_CHARS if key == "exception" else MAX_FIELD_CHARS
        if isinstance(value, str) and len(value) > limit:
            event[key] = f"{value[:limit]}...[{len(value) - limit} more chars]"
        elif isinstance(value, list) and any(isinstance(v, str) and len(v) > limit for v in value):
            event[key] = [v[:limit] if isinstance(v, str) else v for v in value[:100]]
    return event


def _stderr_bytes() -> BinaryIO:
    """Where JSON lines go. In a Dramatiq worker process `sys.stderr` is a pipe to the parent,
    which reads and re-writes every line: a fifth of the worker's CPU per webhook (bench.pipeline).
    There the lines go straight to file descriptor 2, the parent's own stderr, one write() each,
    so lines from several processes never tear (a pipe keeps writes under 4 KiB whole)."""
    if hasattr(sys.stderr, "buffer"):
        return sys.stderr.buffer
    return os.fdopen(os.dup(2), "wb", buffering=0)


def configure(*, pretty: bool = False, level: int = logging.INFO) -> None:
    """Readable lines in `dev` (colour only on a terminal: escape codes in a file are noise); else
    one JSON line per event, rendered by orjson straight to bytes (cheap on the webhook hot path)."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        capped,
    ]
    if pretty:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
        factory: Any = structlog.PrintLoggerFactory(file=sys.stderr)
    else:
        processors.append(structlog.processors.JSONRenderer(orjson.dumps, option=orjson.OPT_NON_STR_KEYS))
        factory = structlog.BytesLoggerFactory(file=_stderr_bytes())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:  # Dramatiq's own, in a worker process, and ours
        if not any(isinstance(f, MessageIdsOnly) for f in handler.filters):
            handler.addFilter(MessageIdsOnly())
        if not pretty:  # uvicorn's and Dramatiq's lines are JSON too in production
            handler.setFormatter(JsonLines())


class JsonLines(logging.Formatter):
    """A standard-library record (uvicorn, Dramatiq) as one JSON line shaped like ours."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "event": record.getMessage(),
            "logger": record.name,
            "level": record.levelname.lower(),
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + "Z",
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(capped(None, "", line)).decode()

    converter = time.gmtime  # type: ignore[assignment]
