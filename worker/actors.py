"""Dramatiq actors, each calling one function. `dramatiq worker.actors` imports this module: it
reads the settings once and builds the broker (no connection yet), the one thing Dramatiq needs
before actors can be declared. Everything else a process needs happens when it boots:
`ProcessSetup` (clock, metrics folder, logging), then `context.Bootstrap` (rules and clients)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import dramatiq
import redis
import structlog

from worker import catalog, config, context, keys, logs, testclock
from worker.access import grants
from worker.delivery import threads
from worker.delivery.deliver import step as deliver_step
from worker.delivery.policy import Policy
from worker.offers import charge, making, reconcile, store
from worker.queue import broker as broker_setup
from worker.queue import deadletters, schedule
from worker.queue.errors import PermanentError
from worker.webhooks import handle

log = structlog.get_logger("worker")


class ProcessSetup(dramatiq.Middleware):
    """First at a worker process's boot (Dramatiq runs after-hooks last-added first): the test-only
    clock shift, the multiprocess metrics folder before prometheus_client is first imported (our
    metrics then sit beside Dramatiq's, served by its exporter), then JSON logging."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        testclock.install_from_env()
        if self.settings.worker_metrics:
            from dramatiq.middleware import prometheus

            # Set, not defaulted: an inherited value would split our metrics from Dramatiq's exporter.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = prometheus.DB_PATH
        logs.configure(pretty=self.settings.log_pretty)


try:
    SETTINGS = config.load(need_webhook_key=False)
except config.ConfigError as exc:
    sys.exit(f"config error: {exc}")

_STATE = context.redis_client(SETTINGS.redis_url)  # connects on first use
BROKER = broker_setup.build(
    SETTINGS.redis_url,
    prometheus=SETTINGS.worker_metrics,
    extra=[deadletters.DeadLetters(_STATE), schedule.Poller(_STATE), context.Bootstrap(SETTINGS)],
    wake_on_enqueue=SETTINGS.wake_on_enqueue,
)
BROKER.add_middleware(ProcessSetup(SETTINGS))
REDIS_WAIT_SECONDS = 10.0  # under the 15 s heartbeat and the time limit


def _riding_out_redis_blips(run: Callable[[], object]) -> None:
    """Retry in place while Redis is briefly away: a Dramatiq retry cannot be enqueued then, and its
    failure is swallowed with the message acked (Dramatiq PR #545). Every step is idempotent."""
    deadline = time.monotonic() + REDIS_WAIT_SECONDS
    while True:
        try:
            run()
            return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("redis_unavailable_retrying", error=type(exc).__name__)
            time.sleep(0.5)


def _bound(**values: str | None) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**values)


def _webhook_actor(hook: catalog.Webhook) -> dramatiq.Actor:
    def process(webhook_id: str, body: str) -> None:
        _bound(webhook_id=webhook_id, event_type=hook.name)
        _riding_out_redis_blips(lambda: handle.handle(context.current(), hook.name, webhook_id, body))

    process.__name__ = hook.actor
    declare = dramatiq.actor(actor_name=hook.actor, queue_name=keys.WEBHOOK_QUEUE, throws=(PermanentError,))
    return declare(process)


WEBHOOK_ACTORS = {hook.name: _webhook_actor(hook) for hook in catalog.WEBHOOKS}


@dramatiq.actor(queue_name=keys.WEBHOOK_QUEUE, throws=(PermanentError,))
def app_event(event_id: str, customer_id: str, body: str) -> None:
    """The app's own event (POST /api/customers/{id}/events): rules on `app.<name>`."""
    _bound(event_id=event_id, customer_id=customer_id)

    def run() -> None:
        log.info("app_event_handled", outcomes=making.on_app_event(context.current(), event_id, customer_id, body))

    _riding_out_redis_blips(run)


@dramatiq.actor(queue_name=keys.INTERNAL_QUEUE)
def offer_event(offer_id: str, event_type: str) -> None:
    """Rules triggered by an offer event (downsell after decline, reminder while pending...)."""
    _bound(offer_id=offer_id, event_type=event_type)
    _riding_out_redis_blips(
        lambda: log.info("offer_event_handled", outcomes=making.on_offer_event(context.current(), offer_id, event_type))
    )


@dramatiq.actor(queue_name=keys.INTERNAL_QUEUE)
def fire_rule(rule_id: str, trigger: str) -> None:
    """A delayed rule comes due: re-check and act."""
    parsed = making.Trigger.loads(trigger)
    _bound(rule_id=rule_id, customer_id=parsed.facts.customer_id, source=parsed.source)
    ctx = context.current()
    _riding_out_redis_blips(
        lambda: log.info(
            "delayed_rule_fired",
            outcome=making.fire(ctx.client, ctx.stream, ctx.book.get(), rule_id, parsed, ctx.dodo),
        )
    )


@dramatiq.actor(queue_name=keys.INTERNAL_QUEUE)
def revoke_grant(customer_id: str, grant_key: str, ends_at: str, reason: str, source: str) -> None:
    """A scheduled revocation comes due: it revokes only if the grant still ends at this time."""
    _bound(customer_id=customer_id, grant=grant_key, reason=reason, source=source)
    ctx = context.current()

    def run() -> None:
        for update in grants.due_revocations(ctx.client, customer_id, grant_key, ends_at, reason, source):
            emitted, _, _ = grants.apply(ctx.client, ctx.stream, ctx.book.get().access, update)
            what = "grant_revoked" if emitted else "revocation_skipped"
            log.info(what, access_event=emitted and emitted["type"], due=update.at.isoformat())

    _riding_out_redis_blips(run)


@dramatiq.actor(queue_name=keys.INTERNAL_QUEUE)
def expire_offer(offer_id: str) -> None:
    _bound(offer_id=offer_id)
    ctx = context.current()

    def run() -> None:
        moved, _ = store.transition(ctx.client, ctx.stream, offer_id, "expired", event_type="offer.expired")
        log.info("offer_expired" if moved else "offer_expiry_skipped")

    _riding_out_redis_blips(run)


@dramatiq.actor(queue_name=keys.INTERNAL_QUEUE, max_retries=0, time_limit=30_000)
def charge_offer(offer_id: str) -> None:
    """Never retried: a failed charge is not repeated automatically (invariant 3, docs/architecture.md)."""
    _bound(offer_id=offer_id)
    ctx = context.current()
    outcome = charge.charge(ctx.client, ctx.stream, ctx.dodo, ctx.book.get().access, offer_id)
    log.info("charge_attempt", outcome=outcome)


@dramatiq.actor(queue_name=keys.INTERNAL_QUEUE)
def deliver(endpoint_id: str, customer_id: str) -> None:
    """One step of an endpoint-and-customer delivery chain, the head of its list once, handed to the
    delivery threads (worker/delivery/threads.py): no endpoint holds this thread."""
    _bound(endpoint=endpoint_id, customer_id=customer_id)
    ctx = context.current()
    endpoints, policy = ctx.book.get().endpoints, Policy.of(ctx.settings)

    def step() -> str:
        return deliver_step(ctx.client, endpoints, endpoint_id, customer_id, policy)

    _riding_out_redis_blips(lambda: threads.POOL.submit(ctx.client, endpoint_id, customer_id, step))


@dramatiq.actor(queue_name=keys.INTERNAL_QUEUE, max_retries=0, time_limit=30_000)
def reconcile_offer(offer_id: str, step: str = "0", accepted_at: str = "") -> None:
    """One look at Dodo's records for a charge not settled yet; never charges (offers/reconcile.py)."""
    _bound(offer_id=offer_id)
    ctx = context.current()
    _riding_out_redis_blips(
        lambda: log.info(
            "charge_reconciled",
            outcome=reconcile.reconcile(
                ctx.client, ctx.stream, ctx.dodo, offer_id, int(step), float(accepted_at or time.time())
            ),
        )
    )
