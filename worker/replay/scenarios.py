"""Rule test files (`rules/tests/*.yaml`): each scenario gives a customer's starting access and
steps at times from its start: Dodo webhooks (a sample by name, with dotted-path overrides) or app
events, a decline of a rule's offer, and expectations (an offer, no offer, a notification, access).
Strict YAML with `file:line` errors, like the rule files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from worker.folder import yamlsource
from worker.folder.yamlsource import Name

FOLDER = "tests"  # below the rules folder


def _offset(value: Any) -> int:
    """A time from the scenario's start: 0, or a duration such as 90s, 15m, 2h, 3d."""
    return 0 if value in (0, "0", "0s") else yamlsource.parse_duration(value)


Offset = Annotated[int, BeforeValidator(_offset)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpectOffer(Strict):
    rule: Name
    variant: str = "any"  # a variant's name, or any
    product: str | None = None
    discount: str | None = None  # the code it carries; `none` for an offer without one
    made_at: Offset | None = None  # when it was made, from the scenario's start (to the second)


class ExpectAccess(Strict):
    tier: str | None = None
    features: list[str] | None = None  # exactly these
    limits: dict[str, int] | None = None  # at least these keys, with these values


class Step(Strict):
    at: Offset = 0  # from the scenario's start
    webhook: str | None = None  # a Dodo sample's name: payment.succeeded, subscription.active, ...
    set: dict[str, Any] = Field(default_factory=dict)  # dotted paths in the sample: data.product_id: pdt_x
    app_event: dict[str, Any] | None = None  # {type: app.<name>, data: {...}}
    decline: Name | None = None  # the customer declines this rule's pending offer
    expect_offer: ExpectOffer | None = None
    expect_no_offer: Name | None = None  # no offer from this rule by now
    expect_notify: Name | None = None  # this notify rule has emitted by now
    expect_access: ExpectAccess | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        if sum(getattr(self, kind) is not None for kind in KINDS) != 1:
            raise ValueError(
                "a step does one thing: webhook, app_event, decline, expect_offer, expect_no_offer, "
                "expect_notify or expect_access"
            )
        if self.set and self.webhook is None:
            raise ValueError("`set` changes a webhook sample: it needs `webhook`")
        return self


class Scenario(Strict):
    name: str = Field(min_length=1, max_length=200)
    customer: Name = "cus_scenario"
    start: str = "2026-01-05T09:00:00Z"  # an ISO time: the steps' clock starts here
    access: list[str] = Field(default_factory=list)  # products the customer holds from the start
    steps: list[Step] = Field(min_length=1)


class ScenarioFile(Strict):
    scenarios: list[Scenario] = Field(min_length=1)


def files(directory: Path) -> list[Path]:
    folder = directory / FOLDER
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []


def load(path: Path, directory: Path) -> tuple[yamlsource.Document, ScenarioFile]:
    """The file and its scenarios, or ProblemsFound with every `file:line` error."""
    doc = yamlsource.read(path, directory)
    return doc, yamlsource.validate(doc, ScenarioFile)


KINDS = ("webhook", "app_event", "decline", "expect_offer", "expect_no_offer", "expect_notify", "expect_access")


def where(doc: yamlsource.Document, scenario: int, step: int, given: Step) -> str:
    """The step's own line: the line of what it does (`expect_offer:`, `webhook:`, ...)."""
    kind = next(name for name in KINDS if getattr(given, name) is not None)
    return f"{doc.path}:{doc.line_of(('scenarios', scenario, 'steps', step, kind))}"
