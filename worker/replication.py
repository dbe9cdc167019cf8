"""Acknowledged means replicated, when asked (UPSELL_ACK_REPLICAS=n): a write that answers a caller
(a webhook's 200, an app event, an accept) is answered only once `n` replicas have it, else 503.

Redis's WAIT waits for the calling connection's own last write. A duplicate webhook writes nothing,
and the write it repeats may have gone through another connection or receiver, so each
acknowledgement first bumps one counter (`upsell:ack`) on the connection it waits on: WAIT then
covers every write the primary took before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import redis
import redis.exceptions

from worker import keys


class NotReplicated(redis.exceptions.RedisError):
    """Fewer replicas than UPSELL_ACK_REPLICAS had the write in time; the caller retries."""


@dataclass(frozen=True)
class Ack:
    replicas: int = 0  # 0: answer once the primary has it (one machine)
    timeout_ms: int = 500

    @cached_property
    def wire(self) -> bytes:
        """INCR and WAIT in RESP, for a batch already on one connection; empty when not asked."""
        if not self.replicas:
            return b""
        return _command(b"INCR", keys.ACK_MARK.encode()) + _command(
            b"WAIT", str(self.replicas).encode(), str(self.timeout_ms).encode()
        )

    def check(self, reached: int) -> None:
        """Raise NotReplicated when WAIT's answer is short of the replicas asked for."""
        if reached < self.replicas:
            raise NotReplicated(
                f"{reached} of {self.replicas} replicas had the write within {self.timeout_ms} ms "
                "(UPSELL_ACK_REPLICAS, UPSELL_ACK_TIMEOUT)"
            )

    def confirm(self, client: redis.Redis) -> None:
        """Wait until the replicas asked for have everything written so far; NotReplicated if not."""
        if not self.replicas:
            return
        with client.pipeline(transaction=False) as pipe:
            pipe.incr(keys.ACK_MARK)
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            _, reached = pipe.execute()
        self.check(int(reached))


def _command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%b\r\n" % (len(part), part) for part in parts)
