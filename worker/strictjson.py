"""JSON as the edges accept it, one set of limits for webhooks and app events alike: strict UTF-8
(no byte order mark, no lone surrogate), no NaN or Infinity, at most MAX_DEPTH levels deep. What
passes here the worker parses too, so nothing is accepted (2xx) that then dies in dead letters."""

from __future__ import annotations

from typing import Any

import orjson

MAX_DEPTH = 64  # Dodo's payloads nest about 5 levels; an app event's data a few more


class NotStrict(ValueError):
    """The body is not JSON we accept; the message says why without echoing it."""


def loads(body: bytes | str) -> Any:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotStrict("body is not JSON (strict UTF-8, no byte order mark, no NaN or Infinity)") from None
    raw = body.encode() if isinstance(body, str) else body
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and too_deep(value):  # a count is 1 µs; a walk 20
        raise NotStrict(f"body is nested deeper than {MAX_DEPTH} levels")
    return value


def too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack += [(child, depth + 1) for child in item.values() if isinstance(child, dict | list)]
        elif isinstance(item, list):
            stack += [(child, depth + 1) for child in item if isinstance(child, dict | list)]
    return False
