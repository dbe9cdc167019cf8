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
MAX_LINE_CHARS = 1024  # every field but a traceback together: what one line may hold
MAX_TRACEBACK_CHARS = 8192
CUT_FLOOR = 64  # a field shortened for the line's sake keeps at least this much


def _rendered(value: Any) -> str:
    return (
        value if isinstance(value, str) else orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    )


def capped(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Every field's rendered size within MAX_FIELD_CHARS (a dict or list too, rendered, then cut),
    then the line's fields, a traceback aside, within MAX_LINE_CHARS, the largest shortened first;
    each cut says so (`...[n more chars]`, and `line_cut` names the fields shortened for the line)."""
    for key, value in event.items():
        if value is None or isinstance(value, bool | int | float):
            continue
        limit = MAX_TRACEBACK_CHARS if key == "exception" else MAX_FIELD_CHARS
        text = _rendered(value)
        if len(text) > limit:
            event[key] = f"{text[:limit]}...[{len(text) - limit} more chars]"
    shortened: list[str] = []
    while (over := _line_chars(event, shortened) - MAX_LINE_CHARS) > 0:
        sizes = {k: len(_rendered(v)) for k, v in event.items() if k not in ("exception", "line_cut")}
        key = max(sizes, key=lambda k: sizes[k])
        keep = max(CUT_FLOOR, sizes[key] - over - 32)
        if keep >= sizes[key] - 32:
            break  # every field is down to the floor: the line is as short as it gets
        event[key] = f"{_rendered(event[key])[:keep]}...[{sizes[key] - keep} more chars]"
        shortened.append(key)
    if shortened:
        event["line_cut"] = sorted(set(shortened))
    return event


def _line_chars(event: dict[str, Any], shortened: list[str]) -> int:
    fields = {k: v for k, v in event.items() if k != "exception"}
    return len(_rendered(fields)) + (len(_rendered(sorted(set(shortened)))) + 12 if shortened else 0)


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
