"""The operator's upsell rules (`rules/*.yaml`): typed models and the checks across files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, WithJsonSchema, model_validator

from worker import catalog
from worker.access.config import AccessConfig
from worker.folder import yamlsource
from worker.folder.yamlsource import Duration, Name
from worker.rules import graph

OFFER_TRIGGERS = tuple(catalog.OFFER_TRIGGERS)
MAX_AMOUNT = 10**12  # minor units: far above any one payment
PRORATION_MODES = (
    "prorated_immediately",
    "full_immediately",
    "difference_immediately",
    "do_not_bill",
    "prorated_immediately_keep_cycle",
)


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str | int | float) else value


Names = Annotated[
    list[str],
    BeforeValidator(_listed),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]

NameList = Annotated[
    list[Name],
    BeforeValidator(_listed),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


APP_TRIGGER = r"^app\.[a-z0-9][a-z0-9_.-]{0,63}$"  # the app's own events: POST /api/customers/{id}/events


def _trigger(value: Any) -> Any:
    if value in catalog.RULE_TRIGGERS or (isinstance(value, str) and re.fullmatch(APP_TRIGGER, value)):
        return value
    raise ValueError(f"Input should be a handled webhook type, one of {list(OFFER_TRIGGERS)}, or app.<name>")


Trigger = Annotated[
    str,
    BeforeValidator(_trigger),
    WithJsonSchema({"anyOf": [{"enum": list(catalog.RULE_TRIGGERS)}, {"type": "string", "pattern": APP_TRIGGER}]}),
]
Scalar = str | int | float | bool


def _fields(value: Any) -> Any:
    """`{key: value or [values], min_<key>: n, max_<key>: n}` over an app event's data."""
    if not isinstance(value, dict):
        raise ValueError("`fields` maps data keys to a value, a list of values, or min_/max_ numbers")
    for key, wanted in value.items():
        if str(key).startswith(("min_", "max_")):
            if isinstance(wanted, bool) or not isinstance(wanted, int | float):
                raise ValueError(f"fields.{key}: a number is needed")
        elif not isinstance(wanted, Scalar) and not (
            isinstance(wanted, list) and wanted and all(isinstance(w, Scalar) for w in wanted)
        ):
            raise ValueError(f"fields.{key}: a value or a non-empty list of values is needed")
    return {
        str(k): (v if isinstance(v, list) or str(k).startswith(("min_", "max_")) else [v]) for k, v in value.items()
    }


Fields = Annotated[dict[str, Any], BeforeValidator(_fields)]


class When(Strict):
    """Every key must hold; a list means any of."""

    product: Names | None = None
    currency: Names | None = None
    min_amount: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    max_amount: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    has: NameList | None = None
    lacks: NameList | None = None
    metadata: dict[str, Names] | None = None
    offer_rule: NameList | None = None
    fields: Fields | None = None  # app.* data, or the fields the catalog lists for a Dodo trigger
    limit_below: dict[Name, Annotated[int, Field(ge=0, le=MAX_AMOUNT)]] | None = None  # {seats: 10}
    credits_below: dict[Name, Annotated[float, Field(ge=0, le=MAX_AMOUNT)]] | None = None  # {api_calls: 100}


class Offer(Strict):
    type: Literal["one_click", "cross_sell", "upgrade", "downgrade"]
    product: str
    quantity: int = Field(default=1, ge=1, le=10_000)
    proration: Literal[PRORATION_MODES] | None = None  # type: ignore[valid-type]
    discount_code: str | None = None
    on_payment_failure: Literal["prevent_change", "apply_change"] = "prevent_change"
    effective_at: Literal["immediately", "next_billing_date"] | None = None  # plan changes: when the new plan starts


class Variant(Strict):
    name: Name | None = None
    weight: float = Field(gt=0, le=1_000_000, allow_inf_nan=False)
    offer: dict[str, Any] = Field(default_factory=dict)


class Limit(Strict):
    once_per_customer: bool = False
    cooldown_after_decline: Duration | None = None


def _check_fields(trigger: str, fields: dict[str, Any]) -> None:
    """`when.fields` on a Dodo trigger names only the data fields the catalog lists for it."""
    hook = catalog.BY_TYPE.get(trigger)
    allowed = hook.fields if hook else ()
    if not allowed:
        raise ValueError(f"`when.fields` tests an event's data; {trigger} has none to test (app.<name> events do)")
    for key in fields:
        name = key[4:] if key.startswith(("min_", "max_")) else key
        if name not in allowed:
            raise ValueError(f"when.fields.{key}: {trigger} has no field {name!r}; it has {', '.join(allowed)}")


def _percent(value: Any) -> Any:
    """`10%` (or 10) as the share 0.1; a holdout above 90% leaves too few customers exposed."""
    text = str(value).strip()
    number = text[:-1].strip() if text.endswith("%") else text
    try:
        share = float(number) / 100
    except ValueError:
        raise ValueError(f"a percentage like 10% is needed, not {value!r}") from None
    if not 0 < share <= 0.9:
        raise ValueError(f"holdout {value!r}: between 0% and 90% (not 0)")
    return share


Share = Annotated[float, BeforeValidator(_percent), WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?%$"})]


class Rule(Strict):
    id: Name
    on: Trigger
    when: When = Field(default_factory=When)
    delay: Duration | None = None
    offer: Offer | None = None
    notify: Literal[catalog.NOTIFY_EVENTS] | None = None  # type: ignore[valid-type]
    variants: list[Variant] | None = None
    expires_in: Duration | None = None
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    stop: bool = False
    limit: Limit = Field(default_factory=Limit)
    return_url: str | None = Field(default=None, pattern=r"^https?://\S+$")  # where a checkout returns
    mode: Literal["live", "shadow"] = "live"  # shadow: evaluated and counted in stats, never offered
    holdout: Share | None = None  # this share of matched customers (stable per customer) gets no offer
    lift_window: Duration = 30 * 86400  # how long after a match a customer's payments count toward lift
    locale: Literal["en", "it", "es"] | None = None  # the offer page's language (else the browser's)
    on_discount_unavailable: Literal["skip", "full_price"] = (
        "skip"  # a code Dodo will not apply: no offer, or list price
    )
    _source: str = PrivateAttr(default="")  # file:line of its `id`, for the console and rule tests

    @property
    def source(self) -> str:
        return self._source

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        if (self.offer is None) == (self.notify is None):
            raise ValueError("a rule has exactly one of `offer` or `notify`")
        if self.notify and self.on not in OFFER_TRIGGERS:
            raise ValueError(f"`notify` is about the triggering offer, so `on` must be one of {list(OFFER_TRIGGERS)}")
        if self.when.offer_rule and self.on not in OFFER_TRIGGERS:
            raise ValueError(f"`when.offer_rule` needs an offer trigger ({', '.join(OFFER_TRIGGERS)})")
        if self.when.fields is not None and not self.on.startswith("app."):
            _check_fields(self.on, self.when.fields)
        if self.variants and self.offer is None:
            raise ValueError("`variants` override the rule's `offer`, which is missing")
        return self

    def offer_for(self, variant: Variant | None) -> Offer:
        """The rule's offer with the variant's overrides applied."""
        assert self.offer is not None
        if variant is None or not variant.offer:
            return self.offer
        return Offer.model_validate(self.offer.model_dump() | variant.offer)


class RuleFile(Strict):
    """A rule file as editors see it (rules/rules.schema.json)."""

    rules: list[Rule] = Field(default_factory=list)


class RuleItems(Strict):
    """A rule file as it is loaded: the shape first, then each rule alone, so one broken rule
    does not hide the errors of the others."""

    rules: list[dict[str, Any]] = Field(default_factory=list)


def load_files(paths: list[Path], access: AccessConfig | None, folder: Path | None = None) -> list[Rule]:
    """Load every rule of every file, then check across them; raise ProblemsFound with all problems
    at once. A broken rule does not hide the others; without `access` (access.yaml is broken
    itself) the checks against it are skipped, the rest still run."""
    problems: list[yamlsource.Problem] = []
    loaded: list[tuple[yamlsource.Document, int, Rule]] = []
    broken: set[str] = set()  # ids of rules with errors of their own: naming them is no further error
    for path in paths:
        try:
            doc = yamlsource.read(path, folder)
            items = yamlsource.validate(doc, RuleItems).rules
        except yamlsource.ProblemsFound as found:
            problems += found.problems
            continue
        for index, item in enumerate(items):
            name = f"rule {item['id']!r}: " if isinstance(item.get("id"), str) else f"rule #{index + 1}: "
            try:
                rule = yamlsource.validate(doc, Rule, ("rules", index), name)
                rule._source = f"{path.name}:{doc.line_of(('rules', index, 'id'))}"
                loaded.append((doc, index, rule))
            except yamlsource.ProblemsFound as found:
                problems += found.problems
                broken |= {item["id"]} if isinstance(item.get("id"), str) else set()
    problems += _cross_checks(loaded, access, broken)
    problems += graph.problems(loaded)
    if problems:
        raise yamlsource.ProblemsFound(problems)
    return [rule for _, _, rule in loaded]


def _cross_checks(
    loaded: list[tuple[yamlsource.Document, int, Rule]], access: AccessConfig | None, broken: set[str]
) -> list[yamlsource.Problem]:
    problems: list[yamlsource.Problem] = []
    ids = {rule.id for _, _, rule in loaded} | broken
    seen: dict[str, str] = {}
    for doc, index, rule in loaded:
        at = ("rules", index)

        def problem(
            where: tuple[Any, ...],
            message: str,
            doc: yamlsource.Document = doc,
            at: tuple[Any, ...] = at,
            rule: Rule = rule,
        ) -> None:
            problems.append(doc.problem(at + where, f"rule {rule.id!r}: {message}"))

        if rule.id in seen:
            problem(("id",), f"duplicate id, first defined at {seen[rule.id]}: ids must be unique")
        seen.setdefault(rule.id, f"{doc.path}:{doc.line_of((*at, 'id'))}")
        products: list[tuple[tuple[Any, ...], str]] = [
            (("when", "product", i), p) for i, p in enumerate(rule.when.product or [])
        ]
        if rule.offer:
            products.append((("offer", "product"), rule.offer.product))
        for i, variant in enumerate(rule.variants or []):
            try:
                offer = rule.offer_for(variant)
            except ValueError as exc:
                problem(("variants", i, "offer"), f"variant override is invalid: {exc}".splitlines()[0])
                continue
            products.append((("variants", i, "offer", "product"), offer.product))
        for i, name in enumerate(rule.when.offer_rule or []):
            if name not in ids:
                problem(("when", "offer_rule", i), f"offer_rule {name!r} names no rule")
        if access is None:
            continue
        for where, product in products:
            if product not in access.products:
                problem(where, f"unknown product {product!r}: add it to access.yaml or fix the id")
        known = set(access.tiers) | {f for p in access.products.values() for f in p.features}
        for key in ("has", "lacks"):
            for i, name in enumerate(getattr(rule.when, key) or []):
                if name not in known:
                    problem(("when", key, i), f"{key} {name!r} is neither a tier nor a feature in access.yaml")
    return problems


def json_schema() -> dict[str, Any]:
    """The schema editors use to complete and check rule files (rules/rules.schema.json)."""
    schema = RuleFile.model_json_schema(mode="validation")
    schema["title"] = "dodo-upsell rule file"
    return schema
