"""The pipeline benchmark's baseline: a Dramatiq actor that only records that it ran."""

from __future__ import annotations

import os

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from worker.queue import broker as broker_setup

BROKER: RedisBroker = broker_setup.build(os.environ["REDIS_URL"], prometheus=False)
CLIENT = redis.Redis.from_url(os.environ["REDIS_URL"])


@dramatiq.actor(queue_name="noop")
def noop(n: int) -> None:
    CLIENT.xadd("bench:noop", {"n": n})
