"""The console's endpoint page in Chromium: a disabled endpoint's banner on every page, its attempt
log, a test event sent from the page, enabling it again (what waited is then delivered), and an
action without the CSRF token refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.conftest import Stack, wait_until
from tests.test_charges import purchase
from tests.test_console import TOKEN, shot
from tests.test_console import browser as browser
from tests.test_delivery import SECRET, Entitlements, endpoints_yaml
from worker import keys
from worker.delivery import attempts, endpoints, health
from worker.delivery.policy import Policy


@pytest.fixture
def consumer() -> Iterator[Entitlements]:
    found = Entitlements()
    yield found
    found.server.shutdown()


def test_a_disabled_endpoint_in_the_console(
    stack: Stack,
    client: redis.Redis,
    browser: webdriver.Chrome,
    consumer: Entitlements,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoints_yaml(stack.rules_dir, consumer.url)
    stack.extra_env.update(ENT_SECRET=SECRET, UPSELL_CONSOLE_TOKENS=TOKEN, UPSELL_DELIVERY_BACKOFF="1s,1s,1s,1s,1s")
    stack.web()
    stack.worker()
    consumer.answer = lambda event: 500 if event["type"] != "endpoint.test" else 200
    assert stack.post(purchase("cus_console_endpoint")).json()["status"] == "queued"
    wait_until(lambda: attempts.read(client, "entitlements"), 30, what="a failed attempt in the log")
    monkeypatch.setenv("ENT_SECRET", SECRET)
    monkeypatch.setenv(endpoints.ALLOW_PRIVATE, "1")
    (endpoint,) = endpoints.load(stack.rules_dir)[0].values()
    health.disable(client, Policy((1,)), endpoint, "failing for days (set by the test)")

    base = stack.base_url
    browser.get(base + "/console/login")
    browser.find_element(By.ID, "token").send_keys(TOKEN + "\n")
    wait_until(lambda: "is disabled" in browser.page_source, what="the banner on the overview")
    browser.find_element(By.LINK_TEXT, "entitlements").click()
    wait_until(lambda: "Attempts" in browser.page_source, what="the endpoint page")
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table td")]
    assert "disabled" in cells and "500" in cells, cells
    shot(browser, "endpoint")
    browser.find_element(By.XPATH, '//button[text()="Send a test event"]').click()
    wait_until(lambda: "test answered 200" in browser.page_source, what="the test event's answer")
    assert any(event["type"] == "endpoint.test" for event in consumer.received)

    session = browser.get_cookie("upsell_console")
    assert session
    with httpx.Client(cookies={"upsell_console": session["value"]}) as signed_in:
        refused = signed_in.post(base + "/console/endpoints/entitlements/enable", data={}, follow_redirects=False)
    assert refused.status_code == 403 and client.exists(keys.delivery_disabled("entitlements"))

    consumer.answer = lambda event: 200
    browser.find_element(By.XPATH, '//button[text()="Enable again"]').click()
    wait_until(lambda: "enabled again" in browser.page_source, what="enabled from the console")
    assert "is disabled" not in browser.page_source
    wait_until(
        lambda: any(e["customer_id"] == "cus_console_endpoint" for e in consumer.received), 30, what="what waited"
    )
