"""Dramatiq actors: `dramatiq worker.actors` imports this module to find the broker and actors."""

from __future__ import annotations

import os
import sys

import dramatiq
import redis
import structlog

from worker import broker as broker_setup
from worker import config, handlers, intake, logs, yamlsource
from worker.deadletters import DeadLetters
from worker.rulebook import LiveBook

logs.configure(pretty=os.environ.get("UPSELL_LOG_PRETTY") == "1")
log = structlog.get_logger("worker")

try:
    SETTINGS = config.load(need_webhook_key=False)
    CLIENT = redis.Redis.from_url(SETTINGS.redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=10)
    CONTEXT = handlers.Context(CLIENT, SETTINGS.events_stream, LiveBook(SETTINGS.rules_dir))
except config.ConfigError as exc:
    sys.exit(f"config error: {exc}")
except yamlsource.ProblemsFound as exc:
    sys.exit(f"rules error (fix and restart):\n{exc}")

BROKER = broker_setup.build(
    SETTINGS.redis_url,
    prometheus=os.environ.get("UPSELL_WORKER_METRICS", "on") != "off",
    extra=[DeadLetters(CLIENT)],
)


def _actor(event_type: str, actor_name: str) -> dramatiq.Actor:
    def process(webhook_id: str, body: str) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(webhook_id=webhook_id, event_type=event_type)
        handlers.handle(CONTEXT, event_type, webhook_id, body)

    process.__name__ = actor_name
    return dramatiq.actor(process, actor_name=actor_name, queue_name=intake.QUEUE, throws=(broker_setup.PermanentError,))


ACTORS = {event_type: _actor(event_type, name) for event_type, name in intake.ACTORS.items()}
