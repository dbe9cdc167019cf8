"""`rules check` asks Dodo about every discount code the rules name, before any offer is made: a
code Dodo does not know, one restricted away from the rule's product, expired, used up or only for
first-time customers is what an operator puts in an upsell rule by mistake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dodopayments import DodoPayments, DodoPaymentsError
from dodopayments.types import Discount

from worker import discounts, dodo, products
from worker.rules.model import Rule

WHY = {
    "discount_unknown": "is not a code Dodo knows",
    "discount_not_started": "is not active yet (starts_at {starts_at})",
    "discount_expired": "expired at {expires_at}",
    "discount_used_up": "is used up ({times_used} of usage_limit {usage_limit})",
    "discount_restricted": "is restricted to {restricted_to}, not the offered {product}",
    "discount_first_time_only": "is for first-time customers only, and an upsell goes to a customer who bought",
    "discount_specific_customers": "is for specific customers only",
    "discount_currency": "has no amount in the product's currency {currency}",
    "discount_minimum": "needs a larger order than the offer's {subtotal}",
}
THEN = {"skip": "its offers are skipped (on_discount_unavailable: skip)", "full_price": "offered at list price"}


def sites(rules: list[Rule]) -> list[tuple[Rule, str, str]]:
    """(rule, code, product) for the rule's offer and each variant's, once each."""
    found: list[tuple[Rule, str, str]] = []
    for rule in rules:
        if rule.offer is None:
            continue
        for variant in [None, *(rule.variants or [])]:
            offer = rule.offer_for(variant)
            if offer.discount_code and (rule, offer.discount_code, offer.product) not in found:
                found.append((rule, offer.discount_code, offer.product))
    return found


def warnings(rules: list[Rule], directory: Path, api: DodoPayments | None) -> list[str]:
    """One line per code that cannot apply, `file:line: rule 'id': discount CODE ...; what follows`."""
    named = sites(rules)
    if not named:
        return []
    if api is None:
        codes = ", ".join(sorted({code for _, code, _ in named}))
        return [f"discount codes not checked with Dodo ({codes}): DODO_PAYMENTS_API_KEY is not set"]
    said: list[str] = []
    asked: dict[str, Discount | None] = {}
    for rule, code, product in named:
        where = f"{_line_of(directory, rule.id, code)}: rule {rule.id!r}: discount {code}"
        try:
            found = asked[code] if code in asked else asked.setdefault(code, discounts.fetch(api, code))
            shown = products.info(api, product)
        except DodoPaymentsError as exc:
            said.append(f"{where} could not be checked with Dodo ({dodo.error_code(exc)})")
            continue
        subtotal = shown["price"] * rule.offer_for(None).quantity if isinstance(shown["price"], int) else None
        reason = discounts.unusable(found, product, shown["currency"], subtotal)
        if reason:
            facts = _facts(found) | {"product": product, "currency": shown["currency"], "subtotal": subtotal}
            said.append(f"{where} {WHY[reason].format(**facts)}: {THEN[rule.on_discount_unavailable]}")
    return said


def _facts(found: Discount | None) -> dict[str, Any]:
    return found.model_dump(mode="json") if found is not None else {}


def _line_of(directory: Path, rule_id: str, code: str) -> str:
    """`file:line` of the code in the rule's text (the rule's own line if the code is not found)."""
    for path in sorted(directory.glob("*.yaml")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        starts = [
            n for n, line in enumerate(lines) if re.search(rf"\bid:\s*['\"]?{re.escape(rule_id)}['\"]?\s*$", line)
        ]
        for start in starts:
            ends = next((n for n in range(start + 1, len(lines)) if re.match(r"\s*-\s+id:", lines[n])), len(lines))
            hit = next((n for n in range(start, ends) if code in lines[n]), start)
            return f"{path}:{hit + 1}"
    return str(directory)
