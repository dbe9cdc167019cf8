"""`rules backtest`: the archived inbound webhooks of a window, replayed through a draft rules folder.

Everything happens in this process's memory, and Redis is only read (the archive, the events
stream, the payment index), so a backtest changes nothing. Access is rebuilt by the worker's own
`merge` from the whole archive in time order (revocations fall due at their times), so each event
meets the customer's access as it was then; rules run on the window's events only, through the
worker's own matching, limits, delays and offer ids, so a draft rule made live on the same traffic
makes the offers predicted here.
"""

from __future__ import annotations

import heapq
import itertools
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from dodopayments import DodoPayments

from worker import archive, catalog, events, keys
from worker.access import grants, payments
from worker.access.config import limits_of, summarize
from worker.access.state import AccessState
from worker.book import Book
from worker.folder.yamlsource import parse_duration
from worker.offers import app_events, display, eligibility
from worker.offers.making import Trigger, new_offer, offer_trigger
from worker.offers.model import Offer
from worker.queue.errors import PermanentError
from worker.replay import backtest_report
from worker.rules import match
from worker.rules.model import Rule
from worker.stats import lift
from worker.webhooks.effects import Outcome
from worker.webhooks.handle import outcome_of

PAGE = 1000  # entries per XRANGE read


def parse_moment(text: str, now: float | None = None) -> float:
    """`7d`, `36h`, `90m` back from now, `now`, or an ISO 8601 date or date-time (UTC if no zone)."""
    now = time.time() if now is None else now
    text = text.strip()
    if text in ("now", "0", "0d"):
        return now
    if re.fullmatch(r"[0-9]+\s*[smhd]", text):
        return now - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text[:40]!r}: use 7d or 36h (back from now), now, or an ISO 8601 date such as 2026-11-01"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass
class Replay:
    """The simulated world: customers' access, payments seen, offers the draft made, jobs due."""

    book: Book
    client: redis.Redis | None  # None: nothing but what is replayed (`rules test`)
    since: float
    states: dict[str, AccessState] = field(default_factory=dict)
    paid: dict[str, payments.PaymentRecord] = field(default_factory=dict)  # payments seen in the archive
    offers: dict[str, Offer] = field(default_factory=dict)  # what the draft would have made, by id
    once: set[tuple[str, str]] = field(default_factory=set)
    jobs: list[tuple[float, int, str, tuple[Any, ...]]] = field(default_factory=list)
    seq: Iterator[int] = field(default_factory=itertools.count)
    counts: Counter[str] = field(default_factory=Counter)
    notified: Counter[str] = field(default_factory=Counter)
    held_out: Counter[str] = field(default_factory=Counter)  # customers a rule's holdout would keep
    subscriptions: dict[str, tuple[str, bool, str]] = field(default_factory=dict)  # id -> customer, active, product
    api: DodoPayments | None = None  # prices and discounts from Dodo (cached), as live offers show them
    no_discount: Counter[str] = field(default_factory=Counter)  # would-be offers whose code cannot apply

    def state(self, customer_id: str) -> AccessState:
        return self.states.setdefault(customer_id, AccessState())

    def lookup(self, payment_id: str) -> payments.PaymentRecord:
        """A payment seen in the archive, else the live index (read only); never Dodo."""
        if payment_id in self.paid:
            return self.paid[payment_id]
        if self.client is None:
            raise LookupError(payment_id)
        raw = self.client.get(keys.payment(payment_id))
        if not raw:
            raise LookupError(payment_id)
        return payments.PaymentRecord.model_validate_json(raw)

    def schedule(self, due: float, kind: str, *args: Any) -> None:
        heapq.heappush(self.jobs, (due, next(self.seq), kind, args))

    def run_due(self, now: float) -> None:
        while self.jobs and self.jobs[0][0] <= now:
            due, _, kind, args = heapq.heappop(self.jobs)
            if kind == "revoke":
                self.apply(grants.due_revocation(*args), due)
            else:
                self.fire(args[0], args[1], due)

    def apply(self, update: grants.Update, now: float) -> AccessState:
        state = self.state(update.customer_id)
        for job in grants.merge(self.book.access, state, update, now):
            self.schedule(job.due, "revoke", *job.args)
        state.tier, state.features = summarize(self.book.access, state.grants.values())
        state.limits = limits_of(self.book.access, state.grants.values())
        return state

    def replay(self, entry_id: str, fields: dict[str, str]) -> None:
        """One archived delivery at its arrival time: access always, rules inside the window."""
        at = int(entry_id.split("-")[0]) / 1000
        self.run_due(at)
        if "customer_id" in fields:  # an app event
            event_type, data = app_events.parse(fields["body"])
            facts = app_events.facts(fields["customer_id"], event_type, data)
            trigger = Trigger(facts, fields["event_id"], None, app_events.subscription_of(data))
        else:
            webhook_id, event_type = fields["webhook_id"], fields["type"]
            outcome = outcome_of(self.book.access, self.lookup, event_type, webhook_id, fields["body"])
            trigger = self._webhook(outcome, webhook_id, event_type, at)
        if at >= self.since:
            self.counts["replayed"] += 1
            self.run(trigger, at)
        else:
            self.counts["before_window"] += 1

    def _webhook(self, outcome: Outcome, webhook_id: str, event_type: str, at: float) -> Trigger:
        payment = outcome.payment
        if payment is not None:
            self.paid[payment.payment_id] = payments.record_of(payment)
            offer_id = str((payment.metadata or {}).get("upsell_offer_id", ""))
            offer = self.offers.get(offer_id)
            if offer is not None and outcome.paid is not None:  # its live twin was paid for, or the charge failed
                offer.state = "converted" if outcome.paid else "failed"
                if offer.state == "failed":
                    self.run(offer_trigger(offer, "offer.failed"), at)
        active = outcome.subscription_active
        if outcome.subscription_id and active is not None and outcome.facts.products:
            product = outcome.facts.products[0]
            self.subscriptions[outcome.subscription_id] = (outcome.customer_id, active, product)
        if outcome.update is not None:
            self.apply(outcome.update, at)
        if outcome.suppresses or outcome.moots_offers_of:  # as store.expire_pending does live
            for offer in self.offers.values():
                mine = offer.customer_id == outcome.customer_id and offer.state == "pending"
                if mine and outcome.moots_offers_of in (None, offer.trigger):
                    offer.state = "expired"
        paid = payment.payment_id if payment is not None else None
        return Trigger(outcome.facts, webhook_id, subscription_id=outcome.subscription_id, payment_id=paid)

    def run(self, trigger: Trigger, at: float) -> None:
        """`making.run`, with the simulated access and offers in place of Redis."""
        candidates = self.book.index.candidates(trigger.facts)
        if not candidates:
            return
        state = self.state(trigger.facts.customer_id)
        if state.suppressed(self.book.access.policy.suppress_offers_after_refund, at):
            return
        for verdict in match.evaluate(
            candidates, trigger.facts, self.book.access, state.tier, state.features, match.numbers_of(state)
        ):
            if verdict.matched and verdict.rule.delay:
                self.schedule(at + verdict.rule.delay, "fire", verdict.rule.id, trigger)
            elif verdict.matched:
                self.act(verdict.rule, trigger, at)

    def fire(self, rule_id: str, trigger: Trigger, at: float) -> None:
        """`making.fire`: a delayed rule acts only if `when` still holds then."""
        rule = self.book.index.by_id[rule_id]
        state = self.state(trigger.facts.customer_id)
        if state.suppressed(self.book.access.policy.suppress_offers_after_refund, at):
            return
        if not match.mismatches(
            rule, trigger.facts, self.book.access, state.tier, state.features, numbers=match.numbers_of(state)
        ):
            self.act(rule, trigger, at)

    def act(self, rule: Rule, trigger: Trigger, at: float) -> None:
        """`making.act`: the same offer id, limits and prices (when Dodo can be asked); no quote or charge."""
        if trigger.offer_id:
            triggering = self.offers.get(trigger.offer_id)
            if triggering is None or triggering.state != catalog.OFFER_TRIGGERS[trigger.facts.trigger]:
                return
        if rule.notify:
            self.notified[rule.id] += 1
            return
        offer = new_offer(rule, trigger)
        window = self.book.access.policy.suppress_offers_after_refund
        if eligibility.access_blocker(self.state(offer.customer_id), offer.product_id, window, at):
            return
        if offer.is_plan_change and not self._changeable(offer):
            return
        if self.api is not None and display.settle_price(self.api, offer, rule.on_discount_unavailable):
            self.no_discount[rule.id] += 1
            if rule.on_discount_unavailable == "skip":
                return
        if rule.holdout and lift.held_out(rule.id, offer.customer_id, rule.holdout):
            self.held_out[rule.id] += 1
            return
        limit = (rule.id, offer.customer_id)
        if offer.offer_id in self.offers or (rule.limit.once_per_customer and limit in self.once):
            return
        if rule.limit.once_per_customer:
            self.once.add(limit)
        offer.created_at = events.iso(datetime.fromtimestamp(at, UTC))  # when it would have been made
        self.offers[offer.offer_id] = offer
        if rule.mode != "shadow":  # a shadow offer is never emitted, so no offer.* rule sees it
            self.run(offer_trigger(offer, "offer.created"), at)

    def _changeable(self, offer: Offer) -> bool:
        """Live asks Dodo whether the subscription is this customer's, active and not on the
        product; here the archive's subscription events say."""
        customer_id, active, product = self.subscriptions.get(offer.subscription_id or "", ("", False, ""))
        return customer_id == offer.customer_id and active and product != offer.product_id

    def finish(self, until: float) -> None:
        """Jobs due inside the window run at their time; delayed rules due later are judged on the
        access the customer has at the window's end (the live worker fires them after it)."""
        self.run_due(until)
        for due, _, kind, args in sorted(self.jobs):
            if kind == "fire":
                self.fire(args[0], args[1], due)


def entries(client: redis.Redis, stream: str, start: str, end: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A stream's entries between two ids, a page at a time (the client decodes responses)."""
    while True:
        page: Any = client.xrange(stream, start, end, count=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        start = "(" + page[-1][0]


def live_offers(client: redis.Redis, stream: str, since: float, until: float) -> Counter[tuple[str, str]]:
    """Offers the live rules created in the window, by (rule, variant), from the events stream."""
    found: Counter[tuple[str, str]] = Counter()
    for _, entry in entries(client, stream, str(int(since * 1000)), str(int(until * 1000))):
        if entry.get("type") == "offer.created":
            data = orjson.loads(entry["data"])
            found[(data["rule_id"], data["variant"])] += 1
    return found


def backtest(
    client: redis.Redis, book: Book, stream: str, since: float, until: float, api: DodoPayments | None = None
) -> dict[str, Any]:
    """Replay the archive up to `until` (all of it, so access is rebuilt); report the window. With
    `api`, offers carry the prices and discounts Dodo gives them now."""
    if until <= since:
        raise ValueError("--since must be before --until")
    replay = Replay(book, client, since, api=api)
    started = time.perf_counter()
    for entry_id, raw in entries(client, keys.INBOUND, "-", str(int(until * 1000))):
        try:
            replay.replay(entry_id, archive.fields(raw))
        except (LookupError, ValueError, TypeError, PermanentError):  # a payment never seen; a body no model takes
            replay.counts["skipped"] += 1
    replay.finish(until)
    seconds = time.perf_counter() - started
    result = backtest_report.report(replay, live_offers(client, stream, since, until), since, until, seconds)
    oldest: Any = client.xrange(keys.INBOUND, "-", "+", count=1)
    result["archive_from"] = (
        events.iso(datetime.fromtimestamp(int(oldest[0][0].split("-")[0]) // 1000, UTC)) if oldest else None
    )
    return result
