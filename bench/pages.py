"""The customer pages, measured: an offer's page and the thank-you page (with its offer present) at a
steady 100 requests a second, against `/healthz` at the same rate in the same run (the baseline:
the server and the load generator alone), Dodo's part answered by the local emulator; and a purchase webhook to the thank-you page showing its
offer, one purchase at a time with the system idle between them, the first after a start included.

    .venv/bin/python -m bench.pages
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import harness
from bench.ofrep import percentile

RATE, SECONDS, PURCHASES = 100, 10, 30
KEY = "bench-offer-link-key-0123456789abcdef"
COURSE, ADDON = "pdt_e9mUw084cWnu0tz", "pdt_ADDON0priority7Kq"
RULE = f"""rules:
  - id: addon
    on: payment.succeeded
    when: {{product: [{COURSE}]}}
    offer: {{type: one_click, product: {ADDON}}}
    expires_in: 2h
"""


def purchase(http: httpx.Client, base: str, n: int) -> tuple[str, float]:
    return f"pay_pages_{n}", harness.purchase(http, base, f"pay_pages_{n}", f"cus_pages_{n}")


def main() -> None:
    rules = Path(tempfile.mkdtemp())
    shutil.copy(harness.ROOT / "rules" / "access.yaml", rules)
    (rules / "upsell.yaml").write_text(RULE)
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    with harness.valkey() as url:
        environment = harness.env(url, rules) | {"UPSELL_PUBLIC_URL": base, "UPSELL_OFFER_LINK_KEYS": KEY}
        dodo_port = harness.free_port()
        dodo = f"http://127.0.0.1:{dodo_port}"  # Dodo's part (prices, the saved card) from the emulator, as in dev
        environment |= {"DODO_PAYMENTS_BASE_URL": dodo, "DODO_PAYMENTS_API_KEY": "bench"}
        emulator = [sys.executable, "-m", "emulator", "--port", str(dodo_port), "--secret", harness.SECRET]
        with (
            harness.process(emulator, environment, ready_url=f"{dodo}/_emulator/requests"),
            harness.receiver(port, environment),
            harness.worker(environment),
            httpx.Client(timeout=15) as http,
        ):
            shown = []
            for n in range(PURCHASES):  # idle between purchases: the worker wakes for each
                payment_id, started = purchase(http, base, n)
                page = http.get(f"{base}/thanks", params={"payment_id": payment_id})
                assert "/o/off_" in page.text, page.text[:300]
                shown.append(time.perf_counter() - started)
                time.sleep(random.uniform(0.05, 0.3))
            offers = http.get(f"{base}/api/customers/cus_pages_0/offers", headers={"authorization": "Bearer bench"})
            link = offers.json()["offers"][0]["offer_url"]

            path = link.removeprefix(base)
            rest = harness.paced(port, lambda n: harness.request("GET", "/healthz"), RATE, SECONDS)
            page = harness.paced(port, lambda n: harness.request("GET", path), RATE, SECONDS)
            done = harness.paced(
                port, lambda n: harness.request("GET", f"/thanks?payment_id=pay_pages_{n % PURCHASES}"), RATE, SECONDS
            )
    print(f"/healthz (baseline) at {RATE}/s: p50 {rest['p50_ms']:.1f} ms, p99 {rest['p99_ms']:.1f} ms")
    print(
        f"offer page at {RATE}/s: p50 {page['p50_ms']:.1f} ms, p99 {page['p99_ms']:.1f} ms ({page['p99_ms'] / rest['p99_ms']:.1f}x)"
    )
    print(
        f"thank-you page at {RATE}/s: p50 {done['p50_ms']:.1f} ms, p99 {done['p99_ms']:.1f} ms ({done['p99_ms'] / rest['p99_ms']:.1f}x)"
    )
    print(
        f"purchase webhook -> thank-you page showing its offer, idle: first {shown[0] * 1000:.1f} ms, "
        f"p50 {percentile(shown, 0.5):.1f} ms, p99 {percentile(shown, 0.99):.1f} ms ({PURCHASES} purchases)"
    )
    failed = sum(r["failed"] for r in (rest, page, done))
    print(f"requests that failed: {failed}")


if __name__ == "__main__":
    main()
