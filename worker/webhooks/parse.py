"""Strict parsing of a queued webhook with the SDK's own model for its type (from the catalog)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from worker import catalog
from worker.queue.errors import PermanentError


def parse(event_type: str, body: str) -> Any:
    """The SDK model instance; an event the model rejects will never succeed on retry."""
    try:
        raw: Any = orjson.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PermanentError(f"body is not JSON: {type(exc).__name__}") from None
    model: type[BaseModel] = catalog.BY_TYPE[event_type].model
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # Locations and messages only: pydantic's own text would quote the offending input (payment details).
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)[:5])
        raise PermanentError(f"{event_type} does not match the SDK's model: {problems}") from None
