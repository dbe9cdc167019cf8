"""Dramatiq's Redis message layout, written in this one place.

A message is a `<ns>:<queue>.msgs` hash entry plus its id on the `<ns>:<queue>` list, exactly as
Dramatiq's RedisBroker enqueues one, so an ordinary `dramatiq worker.actors` consumes what the
receiver, the schedule and the worker's own transactions push.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import dramatiq
import orjson
from redis.client import Pipeline

from worker import catalog, keys
from worker.queue import wake


def _message(queue_name: str, actor_name: str, args: tuple[Any, ...], message_id: str | None) -> dramatiq.Message:
    message_id = message_id or str(uuid.uuid4())
    return dramatiq.Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={"redis_message_id": message_id},
        message_id=message_id,
    )


def message(queue_name: str, actor_name: str, args: tuple[Any, ...]) -> dramatiq.Message:
    """Any actor's message, as Dramatiq would make it (a dead letter's replay)."""
    return _message(queue_name, actor_name, args, None)


def webhook(event_type: str, webhook_id: str, body: str) -> dramatiq.Message:
    """The message for a handled webhook, as Dramatiq reads what `encoded_webhook` writes."""
    return dramatiq.Message.decode(encoded_webhook(event_type, webhook_id, body)[1])


def app_event(event_id: str, customer_id: str, body: str) -> dramatiq.Message:
    """An app event (POST /api/customers/{id}/events), queued beside the webhooks."""
    return _message(keys.WEBHOOK_QUEUE, "app_event", (event_id, customer_id, body), event_id)


def encoded_webhook(event_type: str, webhook_id: str, body: str) -> tuple[str, bytes]:
    """(redis message id, encoded message) for the receiver's hot path: Dramatiq's message JSON,
    written with orjson (Dramatiq's own encoder, escaping the body, took a sixth of the receiver's
    CPU). The raw body travels so dead letters keep it."""
    message_id = os.urandom(16).hex()  # uuid4() cost 8% of the receiver's CPU; any unique string will do
    fields = {
        "queue_name": keys.WEBHOOK_QUEUE,
        "actor_name": catalog.BY_TYPE[event_type].actor,
        "args": [webhook_id, body],
        "kwargs": {},
        "options": {"redis_message_id": message_id},
        "message_id": message_id,
        "message_timestamp": int(time.time() * 1000),
    }
    return message_id, orjson.dumps(fields)


def internal(actor_name: str, *args: str, message_id: str | None = None) -> dramatiq.Message:
    """A message for one of the worker's own actors."""
    return _message(keys.INTERNAL_QUEUE, actor_name, args, message_id)


def redis_id(message: dramatiq.Message) -> str:
    return str(message.options["redis_message_id"])


def push(pipe: Pipeline, message: dramatiq.Message) -> None:
    """Queue a message on a MULTI: it is enqueued if and only if the transaction commits."""
    pipe.hset(keys.queue_messages(message.queue_name), redis_id(message), message.encode())
    pipe.rpush(keys.queue(message.queue_name), redis_id(message))
    wake.push(pipe, keys.queue(message.queue_name))
