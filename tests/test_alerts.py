"""The shipped alerts (deploy/prometheus): promtool checks them and runs their unit tests; every
metric they read is one the code exports; every runbook link lands on a heading of
docs/operations.md; the Grafana dashboard reads only exported metrics too; and the gauges behind
them are set from Redis (the oldest charging offer, dead letters, dead deliveries)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
import redis
import yaml

from tests.conftest import ROOT
from worker import keys, metrics
from worker.queue import backlog

PROMETHEUS = ROOT / "deploy" / "prometheus"
EXPORTED = {spec[1] for spec in metrics._SPECS.values()} | {"upsell_webhooks_total", "upsell_webhook_seconds"}


def _metrics_in(expression: str) -> set[str]:
    return {name.removesuffix("_bucket") for name in re.findall(r"\bupsell_[a-z_]+", expression)}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (apt-get install prometheus)")
def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", "alerts.yml"], cwd=PROMETHEUS, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        ["promtool", "test", "rules", "alerts.test.yml"], cwd=PROMETHEUS, capture_output=True, text=True
    )
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_alert_reads_exported_metrics_and_links_a_runbook() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("# ").lower()).replace(" ", "-")
        for line in (ROOT / "docs" / "operations.md").read_text().splitlines()
        if line.startswith("#")
    }
    for rule in rules:
        assert _metrics_in(rule["expr"]) <= EXPORTED, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        assert anchor in headings, f"{rule['alert']}: no heading for #{anchor}"
    names = {rule["alert"] for rule in rules}
    tested = (PROMETHEUS / "alerts.test.yml").read_text()
    assert all(f"alertname: {name}" in tested for name in names), "each alert has a unit test"
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dodo-upsell.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert _metrics_in(target["expr"]) <= EXPORTED, panel["title"]


def test_the_backlog_gauges_come_from_redis(client: redis.Redis) -> None:
    now = time.time()
    client.zadd(keys.CHARGING, {"off_old": now - 90_500, "off_new": now - 5})
    client.hset(keys.DEAD_LETTERS, "msg_1", "{}")
    client.hset(keys.DELIVERY_DEAD, mapping={"e:1": "{}", "e:2": "{}"})
    backlog.report(client, now)
    assert metrics.CHARGING_OLDEST._value.get() == pytest.approx(90_500, abs=1)  # type: ignore[attr-defined]
    assert metrics.DEAD_LETTERS._value.get() == 1  # type: ignore[attr-defined]
    assert metrics.DELIVERIES_DEAD._value.get() == 2  # type: ignore[attr-defined]
    client.delete(keys.CHARGING)
    backlog.report(client, now)
    assert metrics.CHARGING_OLDEST._value.get() == 0  # type: ignore[attr-defined]
