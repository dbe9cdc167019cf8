"""What a delivery step follows besides the endpoint's own entry: the retry schedule, the stream
operator events go to, how long the attempt log keeps, and when a failing endpoint is disabled."""

from __future__ import annotations

from dataclasses import dataclass

from worker.config import Settings

DAY = 86400


@dataclass(frozen=True)
class Policy:
    backoff: tuple[int, ...]
    stream: str = "upsell:events"
    log_retention_seconds: int = 30 * DAY  # UPSELL_DELIVERY_LOG_RETENTION
    disable_after_seconds: int = 5 * DAY  # UPSELL_DELIVERY_DISABLE_AFTER: every attempt failed this long
    failing_span_seconds: int = DAY  # UPSELL_DELIVERY_FAILING_SPAN: failures must span this before it counts

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            settings.delivery_backoff,
            settings.events_stream,
            settings.delivery_log_retention_seconds,
            settings.delivery_disable_after_seconds,
            settings.delivery_failing_span_seconds,
        )
