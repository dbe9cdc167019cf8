"""The worker's Prometheus endpoint (`dramatiq_prom_port`) serves Dramatiq's metrics and ours."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import redis

from tests.conftest import HTTP, Stack, drained, free_port, wait_until
from tests.test_offers import ADDON, deliver, offer_rule, purchase, rules_file


def scrape(url: str) -> dict[str, float]:
    """Every sample on the page, keyed by name{labels} as Prometheus prints it; none while the
    exporter is not listening yet (a worker just started)."""
    try:
        text = HTTP.get(url, timeout=5).text
    except httpx.TransportError:
        return {}
    samples = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+(?:\{[^}]*\})?) ([-0-9.e+]+|NaN)$", line)
        if match:
            samples[match[1]] = float(match[2])
    return samples


def metrics_stack(stack: Stack, tmp_path: Path) -> str:
    port = free_port()
    stack.extra_env.update(
        UPSELL_WORKER_METRICS="on",
        dramatiq_prom_host="127.0.0.1",
        dramatiq_prom_port=str(port),
        dramatiq_prom_db=str(tmp_path / "prom"),
    )
    return f"http://127.0.0.1:{port}/metrics"


def test_worker_metrics_count_offers_by_rule_and_report_the_rules(
    stack: Stack, client: redis.Redis, tmp_path: Path
) -> None:
    url = metrics_stack(stack, tmp_path)
    rules_file(stack.rules_dir, "rules:\n" + offer_rule("addon-after-course", product=ADDON))
    stack.web()
    stack.worker()
    deliver(stack, client, purchase(customer="cus_metrics_1"), purchase(customer="cus_metrics_2"))
    drained(client)

    samples = wait_until(lambda: scrape(url), what="worker metrics endpoint")
    assert samples["upsell_rules_valid"] == 1.0
    assert samples['upsell_offers_total{event="created",rule="addon-after-course"}'] == 2.0
    assert any(k.startswith("dramatiq_messages_total{") for k in samples), sorted(samples)
    assert "upsell_schedule_lag_seconds" in samples
    receiver = scrape(stack.base_url + "/metrics")
    assert receiver['upsell_webhooks_total{outcome="queued"}'] == 2.0 and "upsell_rules_valid" not in receiver

    (stack.rules_dir / "upsell.yaml").write_text("rules: [\n")
    wait_until(lambda: scrape(url)["upsell_rules_valid"] == 0.0, what="a broken edit reported by an idle worker")
    assert scrape(url)["upsell_rules_reload_errors_total"] == 1.0


def test_a_killed_worker_leaves_no_stale_rules_gauge(stack: Stack, client: redis.Redis, tmp_path: Path) -> None:
    url = metrics_stack(stack, tmp_path)
    stack.web()
    first = stack.worker()
    (stack.rules_dir / "upsell.yaml").write_text("rules: [\n")
    wait_until(lambda: scrape(url).get("upsell_rules_valid") == 0.0, what="broken rules reported")
    first.kill()
    (stack.rules_dir / "upsell.yaml").write_text("rules: []\n")
    stack.worker()
    wait_until(lambda: scrape(url).get("upsell_rules_valid") == 1.0, what="the new worker's verdict alone")


def test_delivery_metrics_per_endpoint(stack: Stack, client: redis.Redis, tmp_path: Path) -> None:
    from tests.test_delivery import SECRET, Entitlements, buy, endpoints_yaml

    receiver = Entitlements()
    url = metrics_stack(stack, tmp_path)
    endpoints_yaml(stack.rules_dir, receiver.url)
    stack.extra_env.update(ENT_SECRET=SECRET, UPSELL_DELIVERY_BACKOFF="1s")
    receiver.answer = lambda event: 500 if event["customer_id"] == "cus_m_broken" else 200
    stack.web()
    stack.worker()
    buy(stack, ["cus_m_ok", "cus_m_broken"], [ADDON])
    key = '{endpoint="entitlements",outcome="%s"}'
    wait_until(lambda: scrape(url).get("upsell_deliveries_total" + key % "dead") == 1.0, 30, what="one dead delivery")
    samples = scrape(url)
    assert samples["upsell_deliveries_total" + key % "delivered"] == 1.0
    assert samples["upsell_deliveries_total" + key % "failed_attempt"] == 2.0
    assert 'upsell_delivery_pending{endpoint="entitlements"}' in samples
    assert 'upsell_delivery_oldest_pending_seconds{endpoint="entitlements"}' in samples
    receiver.server.shutdown()
