"""Query parameters more than one route reads, parsed one way."""

from __future__ import annotations

import re

from starlette.requests import Request

MAX_OFFERS_PAGE = 100  # offers in one answer: a customer with thousands never makes a huge one


def limit(request: Request, default: int, most: int) -> int | None:
    """`?limit=` as 1..most, or None when it is anything else."""
    text = request.query_params.get("limit", str(default))
    return int(text) if re.fullmatch(r"[0-9]{1,4}", text) and 1 <= int(text) <= most else None
