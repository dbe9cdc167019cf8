"""Wake on enqueue: a worker waiting for messages blocks on its queue's wake-up list (BLPOP) instead
of sleeping, and every enqueue pushes a token there in the same atomic step as the message, so a
webhook becomes work in milliseconds, not after a back-off of up to a second.

Dramatiq stays the engine: this only replaces the consumer's sleep between empty fetches. A token
is a hint: one left over costs an empty fetch, one missing costs the old back-off (the BLPOP times
out as the sleep did), so idle workers write to Redis exactly as often as before. Delay queues
(`.DQ`) keep the sleep: their messages become due by time, not by a push.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

MAX_TOKENS = 8  # a woken worker fetches what its prefetch allows: more tokens mostly wake it to empty queues


def key(queue_list: str) -> str:
    """The wake-up list beside a queue's list (`dramatiq:webhooks` -> `dramatiq:webhooks.wake`)."""
    return f"{queue_list}.wake"


def push(pipe: Any, queue_list: str) -> None:
    """One token, on a pipeline or MULTI that also queues the message."""
    pipe.rpush(key(queue_list), 1)
    pipe.ltrim(key(queue_list), -MAX_TOKENS, -1)


class WakingConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, with its idle sleep replaced by a BLPOP on the wake-up list."""

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                if self.outstanding_message_count < self.prefetch:
                    wanted = self.prefetch - self.outstanding_message_count
                    self.message_cache = self.broker.do_fetch(self.queue_name, wanted)
                if self.message_cache:
                    continue
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                self._wait(backoff_ms / 1000, idle=self.outstanding_message_count < self.prefetch)
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None

    def _wait(self, seconds: float, idle: bool) -> None:
        """Block on the wake-up list when this consumer could take a message; a consumer whose
        prefetch is full sleeps, leaving the tokens to workers that can use them."""
        if not getattr(self.broker, "wake_on_enqueue", True) or not idle or self.queue_name.endswith(".DQ"):
            time.sleep(seconds)
            return
        self.broker.client.blpop([key(f"{self.broker.namespace}:{self.queue_name}")], timeout=max(seconds, 0.01))
