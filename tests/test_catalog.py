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


def test_every_webhook_type_has_an_effect_function() -> None:
    from worker.webhooks.table import EFFECTS

    assert set(EFFECTS) == set(catalog.WEBHOOKS)
    assert all(callable(effect) for effect in EFFECTS.values())


def test_the_catalog_is_the_only_code_naming_a_webhook_type() -> None:
    """A type's name as a string literal anywhere else in the product is a second place to change."""
    import ast

    names = set(catalog.BY_TYPE)
    found = []
    for package in ("worker", "receiver", "emulator"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "worker" / "catalog.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    hit = node.value in names or any(node.value.startswith(f"{n}.") for n in names)
                    if hit:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, found


def test_importing_the_actors_does_no_work_beyond_the_broker() -> None:
    """`import worker.actors` (what `dramatiq worker.actors` and the tools do) configures no logging,
    sets no variable, shifts no clock, imports no metrics storage and connects to nothing: all of
    that waits for a worker process's boot (actors.ProcessSetup, context.Bootstrap)."""
    import subprocess
    import sys

    probe = """
import os, sys, time, logging, structlog
before = dict(os.environ)
import worker.actors
assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())
assert not structlog.is_configured(), "logging configured at import"
assert logging.getLogger().handlers == [], "stdlib logging configured at import"
assert abs(time.time() - float(sys.argv[1])) < 3600, "clock shifted at import"
assert "prometheus_client" not in sys.modules, "metrics storage chosen at import"
print(type(worker.actors.BROKER).__name__)
"""
    import time

    env = {
        "PATH": "/usr/bin:/bin",
        "REDIS_URL": "redis://127.0.0.1:9/0",  # nothing listens: a connection at import would fail it
        "UPSELL_TEST_CLOCK_SHIFT": "31d",
        "UPSELL_WORKER_METRICS": "on",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe, str(time.time())], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "RecoveringRedisBroker"


def test_every_sdk_webhook_type_is_handled_or_ignored_with_a_reason() -> None:
    """Fails when the pinned SDK gains a type the catalog does not place."""
    from dodopayments.types import WebhookEventType

    sdk = set(typing.get_args(WebhookEventType))
    assert sdk == set(catalog.BY_TYPE) | set(catalog.IGNORED), sdk ^ (set(catalog.BY_TYPE) | set(catalog.IGNORED))
    assert not set(catalog.BY_TYPE) & set(catalog.IGNORED)
    assert all(len(reason) > 10 for reason in catalog.IGNORED.values())
