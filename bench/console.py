"""Console pages at size: 100 rules, the counters of 1,000,000 offers over a year (by variant and by
rule set version, 12 versions), 100,000 customers with access and a full timeline; each page rendered 20 times in-process (Starlette's TestClient on
the receiver app, signed in), against the same pages on an empty Redis in the same run.

    .venv/bin/python -m bench.console
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from starlette.testclient import TestClient

from bench import harness
from worker import config, keys, timeline
from worker.access.state import AccessState, Grant
from worker.stats import counters

RULES, DAYS, OFFERS, CUSTOMERS, VERSIONS = 100, 365, 1_000_000, 100_000, 12
TOKEN = "console_bench_token_0123456789"
PAGES = (
    "/console",
    "/console/rules",
    "/console/rules?days=90",
    "/console/customers?id=cus_bench_4242",
    "/console/dead-letters",
    "/console/deliveries",
)


def fill(client: redis.Redis) -> None:
    today = datetime.now(UTC).date()
    metrics = ("created", "accepted", "converted", "declined", "revenue:USD", "refunded:USD")
    with client.pipeline(transaction=False) as pipe:
        for n in range(OFFERS):
            day = (today - timedelta(days=n % DAYS)).isoformat()
            field = counters.SEP.join((f"rule-{n % RULES}", f"v{n % 2}", metrics[n % len(metrics)]))
            pipe.hincrby(keys.stats(day), field, 1)
            version = f"v{(n % DAYS) * VERSIONS // DAYS:011d}"  # a new rule set every month
            pipe.hincrby(
                keys.stats_versions(day),
                counters.SEP.join((f"rule-{n % RULES}", version, metrics[n % len(metrics)])),
                1,
            )
            if n % 20_000 == 19_999:
                pipe.execute()
        grant = Grant(source="sub_1", product_id="pdt_RUST4raxbl0Rfe4VQi1z", tier="basic", features=["reports"])
        state = AccessState(version=3, tier="basic", features=["reports"], grants={"sub_1": grant}).dumps()
        for n in range(CUSTOMERS):
            pipe.set(keys.access(f"cus_bench_{n}"), state)
            pipe.zadd(keys.CUSTOMERS, {f"cus_bench_{n}": 0})
            if n % 20_000 == 19_999:
                pipe.execute()
        for n in range(timeline.KEEP):
            timeline.push(
                pipe, "cus_bench_4242", timeline.entry("access.changed", "2026-11-30T00:00:00Z", f"msg_{n}", "renewed")
            )
        pipe.execute()


def timed(url: str, rules_dir: Path) -> dict[str, float]:
    env = harness.env(url, rules_dir) | {"UPSELL_CONSOLE_TOKENS": TOKEN}
    os.environ.update(env)
    from receiver.app import create_app

    with TestClient(create_app(config.load())) as web:
        web.post("/console/login", data={"token": TOKEN})
        found = {}
        for page in PAGES:
            assert web.get(page).status_code == 200, page
            started = time.perf_counter()
            for _ in range(20):
                web.get(page)
            found[page] = (time.perf_counter() - started) / 20 * 1000
        return found


def main() -> None:
    rules_dir = Path(tempfile.mkdtemp())
    shutil.copy(harness.ROOT / "rules" / "access.yaml", rules_dir)
    rules = "".join(
        f"  - id: rule-{n}\n    on: payment.succeeded\n    offer: {{type: cross_sell, product: pdt_ADDON0priority7Kq}}\n"
        for n in range(RULES)
    )
    (rules_dir / "upsell.yaml").write_text("rules:\n" + rules)
    with harness.valkey() as url:
        client = redis.Redis.from_url(url)
        empty = timed(url, rules_dir)
        fill(client)
        full = timed(url, rules_dir)
    print(
        f"ms per page (mean of 20): empty Redis, then {RULES} rules, {OFFERS:,} offers over {DAYS} days, {CUSTOMERS:,} customers"
    )
    for page in PAGES:
        print(f"  {page:42} {empty[page]:7.1f}  {full[page]:7.1f}  ratio {full[page] / empty[page]:.2f}")


if __name__ == "__main__":
    main()
