"""Redis at `maxmemory`: the only policy the docs allow is `noeviction` (Redis then refuses writes,
whole, with an OOM error, and nothing acknowledged is ever evicted); any other policy may drop
acknowledged work, so every process warns at start-up. `is_full` tells an OOM refusal from the
other errors, for /readyz, the metric and the logs."""

from __future__ import annotations

from typing import Any

import redis
import structlog

log = structlog.get_logger("redis")


def is_full(exc: BaseException) -> bool:
    """The error Redis answers a write with once `used_memory` is past `maxmemory` (noeviction)."""
    if isinstance(exc, redis.exceptions.OutOfMemoryError):  # redis-py's class for `-OOM ...`
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and "OOM command not allowed" in str(exc)


def warn_unless_noeviction(client: redis.Redis, process: str) -> str | None:
    """Log a warning when the policy could evict acknowledged work; returns the policy (None when
    the server does not say, as some managed services do not)."""
    try:
        found: Any = client.info("memory")
    except redis.RedisError:
        return None
    policy = found.get("maxmemory_policy")
    if policy is not None and policy != "noeviction":
        log.warning(
            "redis_eviction_policy",
            process=process,
            maxmemory_policy=policy,
            hint="set maxmemory-policy noeviction: any other may evict acknowledged webhooks and access state",
        )
    return str(policy) if policy is not None else None
