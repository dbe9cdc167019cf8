"""Every Redis key name and lifetime the project uses, in one place for code and tests."""

from __future__ import annotations

DAY = 24 * 3600

# Dramatiq's own layout (queue/messages.py writes it): `<ns>:<queue>` list and `<ns>:<queue>.msgs` hash.
NAMESPACE = "dramatiq"
WEBHOOK_QUEUE = "webhooks"
INTERNAL_QUEUE = "upsell"  # follow-ups, expiries, charges: messages the worker sends itself

SEEN_TTL = 8 * DAY  # Dodo retries for ~27.5 h; keep webhook ids well past that
DONE_TTL = 30 * DAY  # marks that a webhook's effect was applied
NOTIFIED_TTL = 30 * DAY
PAYMENT_TTL = 400 * DAY  # disputes can come months after the payment

SCHEDULE = "upsell:schedule"  # sorted set: job id -> due time
JOBS = "upsell:jobs"  # hash: job id -> encoded Dramatiq message
DEAD_LETTERS = "upsell:deadletters"  # hash: record id -> JSON, kept until replayed
INBOUND = "upsell:inbound"  # stream: every verified, first-seen webhook and app event, as queued (for backtests)
ACK_MARK = "upsell:ack"  # counter each replicated acknowledgement bumps, so WAIT covers every earlier write
CUSTOMERS = "upsell:customers"  # sorted set (all scores 0): every customer with access state, for paging

# Outbound webhooks (worker/delivery): the stream is copied, in order, into one list per endpoint
# and customer; the head of each list is being delivered, the rest wait behind it.
DELIVERY_CURSOR = "upsell:delivery:cursor"  # the last stream entry id copied into the lists
DELIVERY_ATTEMPTS = "upsell:delivery:attempts"  # hash: "<endpoint>|<customer>" -> failed attempts of the head
READY_PROBE = "upsell:ready-probe"  # /readyz writes it (expiring): a Redis at maxmemory refuses it
RULES_VERSIONS = "upsell:rules:versions"  # sorted set: rule set versions, scored by when they went live
CHARGING = "upsell:offers:charging"  # sorted set: offer ids charging now, scored by when they began
DELIVERY_FAILING = "upsell:delivery:failing"  # set: "<endpoint>|<event id>" told as delivery.failing
DELIVERY_DEAD = "upsell:delivery:dead"  # hash: "<endpoint>:<event id>" -> JSON record, kept until replayed


def queue(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def queue_messages(name: str) -> str:
    return f"{NAMESPACE}:{name}.msgs"


def seen(webhook_id: str) -> str:
    return f"upsell:seen:{webhook_id}"


def app_seen(customer_id: str, idempotency_key: str) -> str:
    """An app event's Idempotency-Key, per customer, for as long as a webhook-id is remembered."""
    return f"upsell:seen:app:{customer_id}:{idempotency_key}"


def processed(webhook_id: str) -> str:
    return f"upsell:processed:{webhook_id}"


def access(customer_id: str) -> str:
    return f"upsell:access:{customer_id}"


def access_applied(webhook_id: str) -> str:
    return f"upsell:applied:access:{webhook_id}"


def offer(offer_id: str) -> str:
    return f"upsell:offer:{offer_id}"


def customer_offers(customer_id: str) -> str:
    return f"upsell:customer-offers:{customer_id}"


def once(rule_id: str, customer_id: str) -> str:
    return f"upsell:once:{rule_id}:{customer_id}"


def console_failures(scope: str) -> str:
    """Failed console sign-ins in the current minute, from one address or (`*`) from all."""
    return f"upsell:console-failures:{scope}"


def console_session(session_hash: str) -> str:
    """A console sign-in, by the hash of its cookie, holding its CSRF token (receiver/console)."""
    return f"upsell:console-session:{session_hash}"


def timeline(customer_id: str) -> str:
    """The customer's newest history entries, for the console (worker/timeline.py)."""
    return f"upsell:timeline:{customer_id}"


def lift(rule_id: str, customer_id: str) -> str:
    """A customer's holdout group for a rule and their payments since the match (docs/operators.md)."""
    return f"upsell:lift:{rule_id}:{customer_id}"


def lift_stats(rule_id: str) -> str:
    """A rule's lift counters: customers, and sums and sums of squares of their revenue, per group."""
    return f"upsell:lift-stats:{rule_id}"


def lift_rules(customer_id: str) -> str:
    return f"upsell:lift-rules:{customer_id}"


def lift_counted(payment_id: str, rule_id: str) -> str:
    return f"upsell:lift-counted:{payment_id}:{rule_id}"


METHODS_CHANGED_TTL = DAY  # longer than any cached one-click answer lives


def methods_changed(customer_id: str) -> str:
    """When the customer last changed a card (subscription.update_payment_method): older cached
    one-click answers are stale."""
    return f"upsell:methods-changed:{customer_id}"


def cooldown(rule_id: str, customer_id: str) -> str:
    return f"upsell:cooldown:{rule_id}:{customer_id}"


def notified(event_id: str) -> str:
    return f"upsell:notified:{event_id}"


def charge_attempt(offer_id: str) -> str:
    return f"upsell:charge-attempt:{offer_id}"


def payment(payment_id: str) -> str:
    return f"upsell:payment:{payment_id}"


def delivery_queue(endpoint_id: str, customer_id: str) -> str:
    return f"upsell:delivery:q:{endpoint_id}:{customer_id}"


def delivery_pending(endpoint_id: str) -> str:
    """Set of the customers whose list for this endpoint is not empty."""
    return f"upsell:delivery:pending:{endpoint_id}"


def rules_version(version: str) -> str:
    """String: one recorded rule set (JSON: files, diff from the one before, git commit), kept while listed."""
    return f"upsell:rules:version:{version}"


def stats_versions(day: str) -> str:
    """Hash: a day's counters per rule and rule set version (the `stats --by-version` split)."""
    return f"upsell:stats:versions:{day}"


def delivery_rate(endpoint_id: str) -> str:
    """Hash: the endpoint's token bucket (`rate:`), shared by every worker process."""
    return f"upsell:delivery:rate:{endpoint_id}"


def delivery_log(endpoint_id: str) -> str:
    """Sorted set: the endpoint's attempt log (JSON per attempt, scored by its time), bounded."""
    return f"upsell:delivery:log:{endpoint_id}"


def delivery_health(endpoint_id: str) -> str:
    """Hash: first_failure, last_failure (of the current run of failures), last_success."""
    return f"upsell:delivery:health:{endpoint_id}"


def delivery_disabled(endpoint_id: str) -> str:
    """The endpoint's file entry (fingerprint) that answered 410 Gone; a changed entry is enabled again."""
    return f"upsell:delivery:disabled:{endpoint_id}"


OFFER_LINK_KEY = "upsell:offer-link-key"  # signs offer links when UPSELL_OFFER_LINK_KEYS is unset; made once
CLIENT_TOKEN_KEY = "upsell:client-token-key"  # noqa: S105 - a key name, not a secret; signs client tokens (receiver/clienttokens.py); made once


def variant_terms() -> str:
    """Hash "<rule>\x1f<variant name@hash>" -> the terms it offers (JSON): one field per variant
    identity ever offered, so it grows only with rule edits."""
    return "upsell:variant-terms"


def stats(day: str) -> str:
    """Hash of one UTC day's counters: "<rule>\\x1f<variant>\\x1f<metric>" -> number (worker/stats)."""
    return f"upsell:stats:{day}"


def stats_counted(cause: str) -> str:
    """Marks a refund (by webhook-id) or shadow offer (by offer id) as counted, so a repeat is not."""
    return f"upsell:stats:counted:{cause}"
