"""The operator console in a real browser (the system's Chromium through Selenium): sign in, a
converted offer in its rule's funnel, a customer's last access change and why, a dead letter
replayed with a corrected body and applied; a wrong token and a missing CSRF token refused.
Screenshots of each page go to screenshots/ (README)."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.conftest import HTTP, ROOT, Stack, drained, fixture, wait_until
from tests.test_charges import CUSTOMER, RULES, offer_state, pending_offer, purchase
from worker import keys

TOKEN = "console_" + "t" * 24
SHOTS = ROOT / "screenshots"
SECRETS = ("jane.doe@example.com", "New York", "11th Main St")  # the fixtures' e-mail and address


@pytest.fixture
def console(stack: Stack) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.extra_env["UPSELL_CONSOLE_TOKENS"] = TOKEN
    stack.emulator()
    stack.web()
    stack.worker(threads=8)
    return stack


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail(
            "Chromium and chromedriver are needed: .ci/run installs them (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    yield chrome
    chrome.quit()


def shot(chrome: webdriver.Chrome, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    chrome.save_screenshot(str(SHOTS / f"console-{name}.png"))
    assert not [s for s in SECRETS if s in chrome.page_source], "no e-mail or address on any page"


def test_the_console_in_a_browser(
    console: Stack, client: redis.Redis, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    offer = pending_offer(console, client, purchase())
    console.api("POST", f"/api/offers/{offer['offer_id']}/accept")
    offer_state(console, offer["offer_id"], "converted")
    broken = copy.deepcopy(fixture("payment.succeeded"))
    broken["data"]["customer"]["customer_id"] = "cus_console_dead"
    del broken["data"]["total_amount"]  # strict parsing refuses it: a dead letter
    console.post(broken, webhook_id="msg_console_dead")
    wait_until(lambda: client.hexists(keys.DEAD_LETTERS, "msg_console_dead"), what="the dead letter")
    drained(client)

    base = console.base_url
    browser.get(base + "/console")
    assert browser.current_url.endswith("/console/login")
    shot(browser, "login")
    browser.find_element(By.ID, "token").send_keys("not-the-token\n")
    wait_until(lambda: "not valid" in browser.page_source, what="the wrong token refused")
    browser.find_element(By.ID, "token").send_keys(TOKEN + "\n")
    wait_until(lambda: "Rules valid" in browser.page_source, what="the overview")
    minutes = browser.find_elements(By.CSS_SELECTOR, "#per-minute tr")
    assert sum(int(tr.find_elements(By.TAG_NAME, "td")[1].text) for tr in minutes[1:]) >= 2, "queued webhooks"
    shot(browser, "overview")

    browser.get(base + "/console/rules")
    row = browser.find_element(By.CSS_SELECTOR, 'tr.variant[data-rule="addon"]')
    assert (row.find_element(By.CLASS_NAME, "created").text, row.find_element(By.CLASS_NAME, "converted").text) == (
        "1",
        "1",
    )
    shot(browser, "rules")

    browser.get(base + "/console/customers")
    browser.find_element(By.ID, "id").send_keys(CUSTOMER + "\n")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#timeline td.reason"), what="the timeline")
    cells = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in browser.find_elements(By.CSS_SELECTOR, "#timeline tr")
    ]
    changes = [row for row in cells if row and row[1].startswith("access.")]
    assert changes[0][2] == "purchased", "the last access change: the add-on bought through the offer"
    shot(browser, "customer")

    corrected = tmp_path / "corrected.json"
    fixed = copy.deepcopy(broken)
    fixed["data"]["total_amount"] = 400
    corrected.write_text(json.dumps(fixed))
    browser.get(base + "/console/dead-letters")
    shot(browser, "dead-letters")
    browser.find_element(By.ID, "body-1").send_keys(str(corrected))
    browser.find_element(By.XPATH, '//button[text()="Replay msg_console_dead"]').click()
    wait_until(lambda: "replayed msg_console_dead" in browser.page_source, what="the replay done")
    access = lambda: console.api("GET", "/api/customers/cus_console_dead/access").json()["features"]  # noqa: E731
    wait_until(lambda: "course_rust" in access(), what="the corrected webhook applied")

    browser.get(base + "/console/deliveries")
    shot(browser, "deliveries")
    session = browser.get_cookie("upsell_console")
    assert session and session["httpOnly"] and session["sameSite"] == "Strict"
    with httpx.Client(cookies={"upsell_console": session["value"]}) as signed_in:
        refused = signed_in.post(base + "/console/dead-letters/x/delete", data={}, follow_redirects=False)
    assert refused.status_code == 403, "an action without the CSRF token"
    browser.find_element(By.XPATH, '//button[text()="Sign out"]').click()
    browser.get(base + "/console/rules")
    assert browser.current_url.endswith("/console/login")


def test_the_console_is_off_without_tokens(stack: Stack) -> None:
    stack.web()
    assert HTTP.get(stack.base_url + "/console", follow_redirects=False).status_code == 404
    assert HTTP.get(stack.base_url + "/console/login").status_code == 404


def test_webhooks_per_minute_keep_the_last_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    from types import SimpleNamespace

    from receiver import rates

    now = [1_800_000_000.0]
    clock = SimpleNamespace(time=lambda: now[0], strftime=time.strftime, gmtime=time.gmtime)
    monkeypatch.setattr(rates, "time", clock)
    counts = rates.PerMinute()
    counts.count("queued")
    counts.count("queued")
    now[0] += 60
    counts.count("duplicate")
    recent = counts.recent(3)
    assert [c for _, c in recent] == [{"duplicate": 1}, {"queued": 2}, {}]
    now[0] += 3600
    counts.count("queued")
    assert len(counts._minutes) == 1, "minutes older than an hour are dropped"
