"""The catalog names every handled type once; everything that lists types must agree with it."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT, SCHEMA
from worker import catalog
from worker.rules.model import Rule, json_schema


def test_every_webhook_type_has_its_actor_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1")  # the broker is built, never connected
    monkeypatch.setenv("UPSELL_WORKER_METRICS", "off")  # no multiprocess folder for this test process
    from worker import actors

    declared = set(actors.BROKER.actors)
    for hook in catalog.WEBHOOKS:
        assert hook.actor in declared, hook.name
        literal = typing.get_args(hook.model.model_fields["type"].annotation)
        assert literal == (hook.name,), f"{hook.name} parses with a model for {literal}"
    assert set(actors.WEBHOOK_ACTORS) == set(catalog.BY_TYPE)
    assert len(catalog.BY_TYPE) == len(catalog.WEBHOOKS), "a type is listed twice"


def test_receiver_queues_exactly_the_catalog_types() -> None:
    from receiver import webhooks

    assert webhooks.catalog.BY_TYPE is catalog.BY_TYPE


def test_rule_triggers_model_and_schema_agree() -> None:
    """`on` takes exactly the catalog's triggers or app.<name>, in the model and in both schemas."""
    base = {"id": "r", "offer": {"type": "one_click", "product": "p"}}
    for trigger in (*catalog.RULE_TRIGGERS, "app.usage_threshold", "app.onboarding.done"):
        assert Rule.model_validate({**base, "on": trigger}).on == trigger
    for wrong in ("payment.refunded", "app.", "App.x", "app.has space", "offer.accepted"):
        with pytest.raises(ValueError):
            Rule.model_validate({**base, "on": wrong})
    for schema in (json_schema(), json.loads((ROOT / "rules" / "rules.schema.json").read_text())):
        (listed, pattern) = schema["$defs"]["Rule"]["properties"]["on"]["anyOf"]
        assert set(listed["enum"]) == set(catalog.RULE_TRIGGERS) and pattern["pattern"].startswith("^app")


def test_emitted_types_match_the_published_event_schema() -> None:
    assert set(SCHEMA["properties"]["type"]["enum"]) == set(catalog.EMITTED)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: Path(p).stem)
def test_each_fixture_parses_with_its_catalog_model(path: Path) -> None:
    body = json.loads(path.read_text())
    if body["type"] in catalog.BY_TYPE:
        catalog.BY_TYPE[body["type"]].model.model_validate(body)
