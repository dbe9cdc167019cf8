"""A dead letter replayed with a corrected body: what to log and archive about the correction,
without a single value of either body (they may hold payment details): hashes and field paths."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from worker import archive


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _leaves(value: Any, at: str = "") -> dict[str, str]:
    """Each leaf's path and a hash of its value: compared, never shown."""
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _leaves(item, f"{at}.{key}" if at else str(key)).items()
        }
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{at}[{i}]").items()}
    return {at: _digest(json.dumps(value, sort_keys=True))}


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def trace(original: str, corrected: str) -> dict[str, Any]:
    """The bodies' SHA-256 and the paths whose values changed, were added or were removed."""
    before, after = _leaves(_parsed(original)), _leaves(_parsed(corrected))
    return {
        "original_sha256": _digest(original),
        "corrected_sha256": _digest(corrected),
        "fields_changed": sorted(k for k in before.keys() & after.keys() if before[k] != after[k]),
        "fields_added": sorted(after.keys() - before.keys()),
        "fields_removed": sorted(before.keys() - after.keys()),
    }


def archived(args: list[Any], corrected: str, original: str) -> dict[str, str | bytes]:
    """The inbound archive's entry for the corrected delivery, shaped like the receiver's
    (a webhook: id, type, body; an app event: its id, customer, type, body)."""
    parsed = _parsed(corrected)
    event_type = str(parsed.get("type", "")) if isinstance(parsed, dict) else ""
    entry: dict[str, str | bytes]
    if len(args) >= 3:
        entry = {"event_id": str(args[0]), "customer_id": str(args[1]), "type": event_type}
    else:
        entry = {"webhook_id": str(args[0]), "type": event_type}
    return entry | {"bodyz": archive.pack(corrected), "corrects_sha256": _digest(original)}
