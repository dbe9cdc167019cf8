"""Redis clients from REDIS_URL: one server (`redis://`, `rediss://`, `unix://`) or the primary a
set of Sentinels names (`redis+sentinel://[:password@]host:port[,host:port...]/<service>[/<db>]`).

A Sentinel client asks the Sentinels for the primary on every new connection, so after a failover
the next connection goes to the promoted replica without a restart (redis-py's Sentinel support).
The password is the data nodes'; the Sentinels are asked without one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
import structlog

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_TIMEOUT = 0.5  # seconds per Sentinel asked: a dead one must not stall finding the primary

log = structlog.get_logger("redis")


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    password: str | None


def parse_sentinel(url: str) -> SentinelUrl:
    """The parts of a `redis+sentinel://` URL; ValueError says what is wrong with it."""
    rest = url.partition("://")[2]
    credentials, _, location = rest.rpartition("@")
    hosts_text, _, path = location.partition("/")
    sentinels = tuple(_host_port(part) for part in hosts_text.split(",") if part.strip())
    if not sentinels:
        raise ValueError("name at least one Sentinel as host:port before the service")
    service, _, db_text = path.strip("/").partition("/")
    if not service:
        raise ValueError("name the Sentinel service after the hosts, e.g. redis+sentinel://s1:26379,s2:26379/mymaster")
    if db_text and not db_text.isdigit():
        raise ValueError(f"the database after the service must be a number (got {db_text!r})")
    password = unquote(credentials.partition(":")[2]) if credentials else None
    return SentinelUrl(sentinels, unquote(service), int(db_text or 0), password or None)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"each Sentinel is host:port (got {text.strip()!r})")
    return host, int(port)


def connect(url: str, **options: Any) -> redis.Redis:
    """A client for REDIS_URL; `options` are redis-py's (timeouts, decode_responses)."""
    if not url.startswith(SENTINEL_SCHEME + "://"):
        return redis.Redis.from_url(url, **options)
    parts = parse_sentinel(url)
    sentinel = redis.sentinel.Sentinel(list(parts.sentinels), sentinel_kwargs=_sentinel_options())
    return sentinel.master_for(
        parts.service, connection_pool_class=_LoggedPool, db=parts.db, password=parts.password, **options
    )


def connect_async(url: str, **options: Any) -> redis.asyncio.Redis:
    """The asyncio client for REDIS_URL, for the receiver."""
    if not url.startswith(SENTINEL_SCHEME + "://"):
        return redis.asyncio.Redis.from_url(url, **options)
    parts = parse_sentinel(url)
    sentinel = redis.asyncio.sentinel.Sentinel(list(parts.sentinels), sentinel_kwargs=_sentinel_options())
    return sentinel.master_for(
        parts.service, connection_pool_class=_LoggedAsyncPool, db=parts.db, password=parts.password, **options
    )


def _sentinel_options() -> dict[str, Any]:
    return {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}


_primaries: dict[str, Any] = {}  # service -> the primary this process last connected to
_primaries_lock = threading.Lock()


def _note_primary(service: str, address: Any) -> None:
    """Log once per process when the primary is first found and each time it changes."""
    with _primaries_lock:
        before = _primaries.get(service)
        if before == address:
            return
        _primaries[service] = address
    if before is None:
        log.info("redis_primary_found", service=service, primary=f"{address[0]}:{address[1]}")
    else:
        log.warning(
            "redis_primary_changed",
            service=service,
            primary=f"{address[0]}:{address[1]}",
            previous=f"{before[0]}:{before[1]}",
        )


class _LoggedPool(redis.sentinel.SentinelConnectionPool):
    """Connections ask the pool's proxy for the primary (redis-py's sync design), so the proxy's
    lookup is the one wrapped."""

    def __init__(self, service_name: str, sentinel_manager: Any, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)
        find = self.proxy.get_master_address

        def logged() -> Any:
            address = find()
            _note_primary(service_name, address)
            return address

        self.proxy.get_master_address = logged  # type: ignore[method-assign]


class _LoggedAsyncPool(redis.asyncio.sentinel.SentinelConnectionPool):
    async def get_master_address(self) -> Any:
        address = await super().get_master_address()
        _note_primary(self.service_name, address)
        return address
