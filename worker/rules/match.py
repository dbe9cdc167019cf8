"""Which rules fire for an event: indexed by trigger and product, checked against facts and access."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from worker.access.config import AccessConfig
from worker.access.state import AccessState
from worker.rules.model import Rule, Variant


@dataclass(frozen=True)
class Facts:
    """What a `when` can test, taken from a webhook or from the offer behind an offer.* event."""

    trigger: str
    customer_id: str
    products: tuple[str, ...] = ()
    currency: str | None = None
    amount: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    offer_rule: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # an app event's data

    def as_dict(self) -> dict[str, Any]:
        return {
            "fields": self.fields,
            "trigger": self.trigger,
            "customer_id": self.customer_id,
            "products": list(self.products),
            "currency": self.currency,
            "amount": self.amount,
            "metadata": self.metadata,
            "offer_rule": self.offer_rule,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Facts:
        return cls(**{**raw, "products": tuple(raw["products"])})


class Index:
    """Rules by trigger, then by `when.product` (None for rules that name no product), priority first."""

    def __init__(self, rules: list[Rule]) -> None:
        self.by_id = {rule.id: rule for rule in rules}
        self._order = {rule.id: n for n, rule in enumerate(rules)}
        table: dict[str, dict[str | None, list[Rule]]] = defaultdict(lambda: defaultdict(list))
        for rule in rules:
            products: list[str | None] = [*rule.when.product] if rule.when.product else [None]
            for product in products:
                table[rule.on][product].append(rule)
        self._table = table

    def candidates(self, facts: Facts) -> list[Rule]:
        by_product = self._table.get(facts.trigger)
        if not by_product:
            return []
        found = {r.id: r for p in (None, *facts.products) for r in by_product.get(p, ())}
        return sorted(found.values(), key=lambda r: (-r.priority, self._order[r.id]))


@dataclass(frozen=True)
class Numbers:
    """What a customer holds in numbers: plan limits, and credit balances by entitlement id and name."""

    limits: dict[str, int] = field(default_factory=dict)
    credits: dict[str, int | float] = field(default_factory=dict)


NO_NUMBERS = Numbers()


def numbers_of(state: AccessState) -> Numbers:
    return Numbers(state.limits, state.balances())


def mismatches(
    rule: Rule,
    facts: Facts,
    config: AccessConfig,
    tier: str | None,
    features: list[str],
    *,
    access: bool = True,
    numbers: Numbers = NO_NUMBERS,
) -> list[str]:
    """Why `when` does not hold (empty: it holds). `access=False` leaves what the customer holds out
    (`has`, `lacks`, `limit_below`, `credits_below`): a delayed rule tests it when it fires (a
    win-back waits for the cancelled access to end)."""
    when, why = rule.when, []
    if when.product and not set(when.product) & set(facts.products):
        why.append(f"product: none of {when.product} in {list(facts.products)}")
    if when.currency and facts.currency not in when.currency:
        why.append(f"currency: {facts.currency} not in {when.currency}")
    if when.min_amount is not None and (facts.amount is None or facts.amount < when.min_amount):
        why.append(f"min_amount: {facts.amount} < {when.min_amount}")
    if when.max_amount is not None and (facts.amount is None or facts.amount > when.max_amount):
        why.append(f"max_amount: {facts.amount} > {when.max_amount}")
    has, lacks = (when.has or [], when.lacks or []) if access else ([], [])
    for name in has:
        if not config.holds(tier, features, name):
            why.append(f"has: customer lacks {name}")
    for name in lacks:
        if config.holds(tier, features, name):
            why.append(f"lacks: customer has {name}")
    if access:
        why += _below("limit_below", when.limit_below, numbers.limits) + _below(
            "credits_below", when.credits_below, numbers.credits
        )
    for key, allowed in (when.metadata or {}).items():
        if str(facts.metadata.get(key)) not in allowed:
            why.append(f"metadata.{key}: {facts.metadata.get(key)!r} not in {allowed}")
    if when.offer_rule and facts.offer_rule not in when.offer_rule:
        why.append(f"offer_rule: {facts.offer_rule} not in {when.offer_rule}")
    for key, wanted in (when.fields or {}).items():
        reason = _field_mismatch(key, wanted, facts.fields)
        if reason:
            why.append(reason)
    return why


def _below(name: str, wanted: dict[str, Any] | None, held: dict[str, Any]) -> list[str]:
    """Each named number must be under its bound; one the customer does not hold counts as 0."""
    return [
        f"{name}.{key}: {held.get(key, 0)} >= {bound}"
        for key, bound in (wanted or {}).items()
        if held.get(key, 0) >= bound
    ]


def _field_mismatch(key: str, wanted: Any, data: dict[str, Any]) -> str | None:
    if key.startswith(("min_", "max_")):
        name, value = key[4:], data.get(key[4:])
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"fields.{key}: {name} is {value!r}, not a number"
        if (value < wanted) if key.startswith("min_") else (value > wanted):
            return f"fields.{key}: {name} {value} {'<' if key.startswith('min_') else '>'} {wanted}"
        return None
    value = data.get(key)
    if value not in wanted and str(value) not in [str(w) for w in wanted]:
        return f"fields.{key}: {value!r} not in {wanted}"
    return None


def variant_for(rule: Rule, customer_id: str) -> Variant | None:
    """Stable: the same customer always lands in the same variant of a rule."""
    if not rule.variants:
        return None
    digest = hashlib.sha256(f"{rule.id}\x1f{customer_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(v.weight for v in rule.variants)
    for variant in rule.variants:
        point -= variant.weight
        if point < 0:
            return variant
    return rule.variants[-1]


def variant_name(rule: Rule, variant: Variant | None) -> str:
    if variant is None:
        return "default"
    return variant.name or f"v{rule.variants.index(variant) + 1}"  # type: ignore[union-attr]


def variant_terms(rule: Rule, variant: Variant | None) -> dict[str, Any]:
    """What a variant offers (type, product, quantity, discount, proration...): its stats identity."""
    return rule.offer_for(variant).model_dump(mode="json", exclude_none=True)


def variant_id(rule: Rule, variant: Variant | None) -> str:
    """The variant's name and a short hash of its terms: an edit to a variant's discount, price or
    product starts a new identity in the stats, so figures of different terms never pool."""
    terms = json.dumps(variant_terms(rule, variant), sort_keys=True, separators=(",", ":"))
    return f"{variant_name(rule, variant)}@{hashlib.sha256(terms.encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    matched: bool
    reasons: list[str]


def evaluate(
    candidates: list[Rule],
    facts: Facts,
    config: AccessConfig,
    tier: str | None,
    features: list[str],
    numbers: Numbers = NO_NUMBERS,
) -> list[Verdict]:
    """Check `Index.candidates` in priority order; a matching rule with `stop` ends the list. A
    delayed rule is matched here on the event's facts alone and checked in full when it fires."""
    verdicts = []
    for rule in candidates:
        why = mismatches(rule, facts, config, tier, features, access=not rule.delay, numbers=numbers)
        verdicts.append(Verdict(rule, not why, why))
        if not why and rule.stop:
            break
    return verdicts
