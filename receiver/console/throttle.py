"""Console sign-in failures, counted per minute in Redis (so every receiver shares them), per
address and for all addresses together: past either bound a sign-in is refused with 429 and
`Retry-After` before the token is even compared, so guessing costs a minute per few tries."""

from __future__ import annotations

import redis
import structlog

from worker import keys

PER_ADDRESS = 10  # failures a minute from one address
GLOBAL = 100  # failures a minute from everyone: a spread-out guess is slowed too
WINDOW_SECONDS = 60
log = structlog.get_logger("console")


class Throttle:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _scopes(self, address: str) -> list[tuple[str, int]]:
        return [(keys.console_failures(address), PER_ADDRESS), (keys.console_failures("*"), GLOBAL)]

    def wait(self, address: str) -> int:
        """Seconds to wait before trying again (0: go ahead)."""
        with self.client.pipeline(transaction=False) as pipe:
            for key, _ in self._scopes(address):
                pipe.get(key)
                pipe.ttl(key)
            found = pipe.execute()
        waits = [
            max(1, int(found[2 * i + 1]))
            for i, (_, bound) in enumerate(self._scopes(address))
            if int(found[2 * i] or 0) >= bound
        ]
        if waits:
            log.warning("console_sign_in_throttled", address=address, retry_after=max(waits))
        return max(waits, default=0)

    def failed(self, address: str) -> None:
        """Count a failure; logged with the address and the count, never the token offered."""
        with self.client.pipeline(transaction=False) as pipe:
            for key, _ in self._scopes(address):
                pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)  # the minute starts at the first failure
                pipe.incr(key)
            found = pipe.execute()
        log.warning("console_sign_in_failed", address=address, failures_this_minute=found[1])
