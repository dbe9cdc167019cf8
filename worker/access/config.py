"""What a customer may use: products map to tiers and features (`rules/access.yaml`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from worker.access.state import Grant
from worker.folder import yamlsource
from worker.folder.yamlsource import Duration, Name, Span

MAX_LIMIT = 10**12


class ProductAccess(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: Name | None = None
    features: list[Name] = Field(default_factory=list)
    duration: Duration | None = None  # one-time purchases only: the grant ends this long after the payment
    limits: dict[Name, Annotated[int, Field(ge=0, le=MAX_LIMIT)]] = Field(default_factory=dict)  # {seats: 5}


class Policy(BaseModel):
    """When access goes away (docs/operators.md, "Access: lifecycle"); the defaults are the contract's."""

    model_config = ConfigDict(extra="forbid")
    on_cancel: Literal["period_end", "immediately"] = "period_end"
    grace: Literal["dodo"] | Span = 3 * 86400  # dodo: Dodo's `past_due_ends_at`, else 3 days
    on_refund: Literal["full", "any", "never"] = "full"
    on_dispute: Literal["suspend", "ignore"] = "suspend"
    suppress_offers_after_refund: Span = 30 * 86400

    @property
    def grace_from_dodo(self) -> bool:
        return self.grace == "dodo"

    @property
    def grace_seconds(self) -> int:
        """The fixed grace: the configured one, or 3 days where `dodo` has no deadline to go by."""
        return self.grace if isinstance(self.grace, int) else DODO_GRACE_FALLBACK


DODO_GRACE_FALLBACK = 3 * 86400


class AccessConfig(BaseModel):
    """`rules/access.yaml`: tiers lowest to highest, and what each product grants."""

    model_config = ConfigDict(extra="forbid")
    tiers: list[Name] = Field(default_factory=list)
    products: dict[str, ProductAccess] = Field(default_factory=dict)
    entitlements: dict[str, ProductAccess] = Field(default_factory=dict)  # Dodo entitlement id -> access
    limits: dict[Name, Literal["highest", "sum"]] = Field(default_factory=dict)  # how grants combine; highest
    policy: Policy = Field(default_factory=Policy)

    def rank(self, tier: str | None) -> int:
        return self.tiers.index(tier) if tier in self.tiers else -1

    def grant(self, source: str, product_id: str) -> Grant | None:
        """The grant a product gives, or None for a product this file does not know."""
        product = self.products.get(product_id) or self.entitlements.get(product_id)
        if product is None:
            return None
        features = sorted(set(product.features))
        return Grant(source=source, product_id=product_id, tier=product.tier, features=features, limits=product.limits)

    def holds(self, tier: str | None, features: Iterable[str], name: str) -> bool:
        """A customer has a tier at or above `name`, or the feature `name`."""
        if name in self.tiers:
            return self.rank(tier) >= self.rank(name)
        return name in features


def load(path: Path, folder: Path | None = None) -> AccessConfig:
    """Read access.yaml; every problem is reported with its line."""
    doc = yamlsource.read(path, folder)
    config = yamlsource.validate(doc, AccessConfig)
    problems = []
    for section in ("products", "entitlements"):
        for product_id, product in getattr(config, section).items():
            if product.tier is not None and product.tier not in config.tiers:
                problems.append(
                    doc.problem(
                        (section, product_id, "tier"),
                        f"{section[:-1]} {product_id!r}: tier {product.tier!r} is not one of tiers {config.tiers}",
                    )
                )
    if len(set(config.tiers)) != len(config.tiers):
        problems.append(doc.problem(("tiers",), "tiers lists a tier twice"))
    if problems:
        raise yamlsource.ProblemsFound(problems)
    return config


def summarize(config: AccessConfig, grants: Iterable[Grant]) -> tuple[str | None, list[str]]:
    """Tier is the highest any counting grant gives; features are the union. Suspended grants do not count."""
    grants = list(grants)
    counting = [g for g in grants if not g.suspended]
    tier = max((g.tier for g in counting if g.tier), key=config.rank, default=None)
    features = sorted({f for g in counting for f in g.features})
    return tier, features


def limits_of(config: AccessConfig, grants: Iterable[Grant]) -> dict[str, int]:
    """Each limit is the highest any counting grant gives, or their sum where access.yaml says
    `limits: {name: sum}` (add-on seats on top of a plan's)."""
    values: dict[str, list[int]] = {}
    for grant in grants:
        if not grant.suspended:
            for name, value in grant.limits.items():
                values.setdefault(name, []).append(value)
    return {n: sum(v) if config.limits.get(n) == "sum" else max(v) for n, v in sorted(values.items())}


def describe_change(
    config: AccessConfig,
    before: Iterable[Grant],
    after: Iterable[Grant],
    reason: str,
    credits: tuple[dict[str, Any], dict[str, Any]] = ({}, {}),
) -> dict[str, Any]:
    """What moved: features, tier, and each limit or credit balance that changed (from, to)."""
    before, after = list(before), list(after)
    tier_from, features_from = summarize(config, before)
    tier_to, features_to = summarize(config, after)
    return {
        "features_added": sorted(set(features_to) - set(features_from)),
        "features_removed": sorted(set(features_from) - set(features_to)),
        "tier_from": tier_from,
        "tier_to": tier_to,
        "limits_changed": _moved(limits_of(config, before), limits_of(config, after)),
        "credits_changed": _moved(*credits),
        "reason": reason,
    }


def _moved(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: {"from": before.get(k), "to": after.get(k)}
        for k in sorted({*before, *after})
        if before.get(k) != after.get(k)
    }
