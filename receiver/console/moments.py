"""Times as the operator reads them: to the second, in the console's zone (UPSELL_CONSOLE_TIMEZONE,
an IANA name; UTC by default), with the zone said."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def when(value: object, zone: ZoneInfo | None = None) -> str:
    """An ISO time (`...Z` or with an offset) or epoch seconds, shown as `2026-12-04 16:05:09 CET`;
    anything else as it is."""
    if value is None or value == "":
        return ""
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(float(value), UTC)
        else:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return str(value)
    return moment.astimezone(zone or UTC).strftime("%Y-%m-%d %H:%M:%S %Z")
