"""Dramatiq actors: `dramatiq worker.actors` imports this module to find the broker and actors."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import dramatiq
import redis
import structlog

from worker import broker as broker_setup
from worker import charge, config, dodo, handlers, intake, logs, offers, schedule, upsell, yamlsource
from worker.deadletters import DeadLetters
from worker.rulebook import LiveBook

logs.configure(pretty=os.environ.get("UPSELL_LOG_PRETTY") == "1")
log = structlog.get_logger("worker")

try:
    SETTINGS = config.load(need_webhook_key=False)
    CLIENT = redis.Redis.from_url(SETTINGS.redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=10)
    CONTEXT = handlers.Context(CLIENT, SETTINGS.events_stream, LiveBook(SETTINGS.rules_dir), dodo.make_client(SETTINGS))
except config.ConfigError as exc:
    sys.exit(f"config error: {exc}")
except yamlsource.ProblemsFound as exc:
    sys.exit(f"rules error (fix and restart):\n{exc}")

BROKER = broker_setup.build(
    SETTINGS.redis_url,
    prometheus=os.environ.get("UPSELL_WORKER_METRICS", "on") != "off",
    extra=[DeadLetters(CLIENT), schedule.Poller(CLIENT)],
)


REDIS_WAIT_SECONDS = 10.0  # under the 15 s heartbeat and the time limit


def _riding_out_redis_blips(run: Callable[[], None]) -> None:
    """Retry in place while Redis is briefly away: a Dramatiq retry cannot be enqueued then, and its
    failure is swallowed with the message acked (Dramatiq PR #545). Every step is idempotent."""
    deadline = time.monotonic() + REDIS_WAIT_SECONDS
    while True:
        try:
            return run()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("redis_unavailable_retrying", error=type(exc).__name__)
            time.sleep(0.5)


def _actor(event_type: str, actor_name: str) -> dramatiq.Actor:
    def process(webhook_id: str, body: str) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(webhook_id=webhook_id, event_type=event_type)
        _riding_out_redis_blips(lambda: handlers.handle(CONTEXT, event_type, webhook_id, body))

    process.__name__ = actor_name
    return dramatiq.actor(process, actor_name=actor_name, queue_name=intake.QUEUE, throws=(broker_setup.PermanentError,))


ACTORS = {event_type: _actor(event_type, name) for event_type, name in intake.ACTORS.items()}


def _bound(**context: str) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**context)


@dramatiq.actor(queue_name=intake.INTERNAL_QUEUE)
def offer_event(offer_id: str, event_type: str) -> None:
    """Rules triggered by an offer event (downsell after decline, reminder while pending...)."""
    offer = offers.get(CLIENT, offer_id)
    if offer is None:
        return
    _bound(offer_id=offer_id, customer_id=offer["customer_id"], event_type=event_type)
    if event_type == "offer.created" and offer["type"] in ("upgrade", "downgrade") and offer.get("subscription_id"):
        try:
            offers.annotate(CLIENT, offer_id, "pending", {"quote": charge.quote(CONTEXT.dodo, offer, offer["subscription_id"])})
        except dodo.DodoPaymentsError as exc:
            log.warning("quote_unavailable", error_code=dodo.error_code(exc), hint="quoted again when accepted")
    outcomes = upsell.run(CLIENT, SETTINGS.events_stream, CONTEXT.book.get(), upsell.offer_trigger(offer, event_type))
    if outcomes:
        log.info("rules_applied", outcomes=outcomes)


@dramatiq.actor(queue_name=intake.INTERNAL_QUEUE)
def fire_rule(rule_id: str, trigger: str) -> None:
    """A delayed rule comes due: re-check and act."""
    parsed = upsell.Trigger.loads(trigger)
    _bound(rule_id=rule_id, customer_id=parsed.facts.customer_id, source=parsed.source)
    log.info("delayed_rule_fired", outcome=upsell.fire(CLIENT, SETTINGS.events_stream, CONTEXT.book.get(), rule_id, parsed))


@dramatiq.actor(queue_name=intake.INTERNAL_QUEUE)
def expire_offer(offer_id: str) -> None:
    _bound(offer_id=offer_id)
    moved, _ = offers.transition(CLIENT, SETTINGS.events_stream, offer_id, "expired", event_type="offer.expired")
    log.info("offer_expired" if moved else "offer_expiry_skipped")


@dramatiq.actor(queue_name=intake.INTERNAL_QUEUE, max_retries=0, time_limit=30_000)
def charge_offer(offer_id: str) -> None:
    """Never retried: a failed charge is not repeated automatically (DESIGN invariant 3)."""
    _bound(offer_id=offer_id)
    log.info("charge_attempt", outcome=charge.charge(CLIENT, SETTINGS.events_stream, CONTEXT.dodo, offer_id))


@dramatiq.actor(queue_name=intake.INTERNAL_QUEUE, max_retries=0, time_limit=30_000)
def reconcile_offer(offer_id: str) -> None:
    _bound(offer_id=offer_id)
    log.info("charge_reconciled", outcome=charge.reconcile(CLIENT, SETTINGS.events_stream, CONTEXT.dodo, offer_id))
