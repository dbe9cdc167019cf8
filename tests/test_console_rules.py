"""The console's rules page in Chromium on the shipped rule folder: all ten rules in force, in
evaluation order, with their terms, source lines and figures (zero where none); the reload state
(a rejected edit with its file:line); a chart with axes and a legend; times to the second in the
configured zone; the overview's internal queue filled in."""

from __future__ import annotations

import shutil
import time
from zoneinfo import ZoneInfo

import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from receiver.console import charts, moments
from tests.conftest import ROOT, Stack, wait_until
from tests.test_console import TOKEN, shot
from tests.test_console import browser as browser


def test_the_rules_page_shows_the_whole_rule_set(stack: Stack, client: redis.Redis, browser: webdriver.Chrome) -> None:
    for file in ("access.yaml", "upsell.yaml"):
        shutil.copy(ROOT / "rules" / file, stack.rules_dir / file)
    stack.extra_env.update(UPSELL_CONSOLE_TOKENS=TOKEN, UPSELL_CONSOLE_TIMEZONE="Europe/Rome")
    stack.web()
    browser.get(stack.base_url + "/console/login")
    browser.find_element(By.ID, "token").send_keys(TOKEN + "\n")
    wait_until(lambda: "Rules valid" in browser.page_source, what="the overview")
    queue = browser.find_element(By.XPATH, '//th[text()="Queue: internal"]/following-sibling::td')
    assert queue.text == "0", "the internal queue's cell is filled in"

    browser.get(stack.base_url + "/console/rules")
    rows = browser.find_elements(By.CSS_SELECTOR, "#ruleset tr.rule")
    shipped = [
        line.split("id: ")[1] for line in (ROOT / "rules" / "upsell.yaml").read_text().splitlines() if "- id: " in line
    ]
    assert sorted(r.get_attribute("data-rule") for r in rows) == sorted(shipped) and len(shipped) == 10
    text = browser.find_element(By.ID, "ruleset").text
    assert "upsell.yaml:20" in text and "full-price: 50%" in text and "discount_code ADDON10" in text
    assert "code PRO20" in text and "expires in 2d" in text and "once per customer" in text
    addon = browser.find_element(By.CSS_SELECTOR, 'tr.rule[data-rule="course-addon"]')
    assert addon.find_element(By.CLASS_NAME, "created").text == "0", "zero where it made no offer"
    state = browser.find_element(By.ID, "ruleset-state").text
    assert "CET" in state or "CEST" in state, state
    shot(browser, "ruleset")

    (stack.rules_dir / "upsell.yaml").write_text((stack.rules_dir / "upsell.yaml").read_text() + "  - id: broken\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not browser.find_elements(By.ID, "rejected"):
        browser.refresh()
    rejected = browser.find_element(By.ID, "rejected").text
    assert "upsell.yaml:" in rejected, rejected
    assert len(browser.find_elements(By.CSS_SELECTOR, "#ruleset tr.rule")) == 10, "the last good set stays"


def test_times_to_the_second_in_the_zone_and_a_chart_with_axes() -> None:
    rome = ZoneInfo("Europe/Rome")
    assert moments.when("2026-12-04T15:33:24.123456Z", rome) == "2026-12-04 16:33:24 CET"
    assert moments.when(1_780_000_000.5) == "2026-05-28 20:26:40 UTC"
    assert moments.when("not a time") == "not a time"
    svg = charts.daily_bars([("2026-12-01", 4, 1), ("2026-12-02", 0, 0)])
    assert ">offers<" in svg and ">created<" in svg and ">converted<" in svg and ">4<" in svg and ">0<" in svg
