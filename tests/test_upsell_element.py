"""`<upsell-offers>` (served by the receiver at /static/upsell-offers.js) in Chromium on an app's
page of another origin: a purchase webhook makes the offer appear in the open page without a
reload, Accept from the keyboard charges once and says so, No thanks in Italian, styled through a
custom property, axe-core finds no violation inside the element's shadow root, and a token that is
not good is told as `upsell-error` (401)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.conftest import Stack, free_port, wait_until
from tests.test_charges import CUSTOMER, charges, purchase
from tests.test_console import browser as browser
from tests.test_offer_pages import AXE, KEY, RULES
from tests.test_ofrep_browser import _Quiet

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>An app's account page</title>
<style>#mine {{ --upsell-accent: rgb(1, 2, 3); }}</style>
<script type="module" src="{base}/static/upsell-offers.js"></script></head>
<body><main><h1>Your account</h1>
<upsell-offers id="mine" token="{mine}"></upsell-offers>
<upsell-offers id="theirs" token="{theirs}" locale="it"></upsell-offers>
</main></body></html>
"""
PARTS = "return document.getElementById(arguments[0]).shadowRoot.querySelectorAll(arguments[1])"
OTHER = "cus_element_it"


@pytest.fixture
def app_origin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The app's own origin: a folder served over HTTP, another port than the receiver's."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", free_port()), functools.partial(_Quiet, directory=str(tmp_path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()


def _shadow_text(chrome: webdriver.Chrome, element: str) -> str:
    return str(chrome.execute_script("return document.getElementById(arguments[0]).shadowRoot.textContent", element))


def _axe(chrome: webdriver.Chrome, state: str) -> None:
    chrome.execute_script(AXE.read_text())
    found: Any = chrome.execute_async_script(
        "const done = arguments[arguments.length - 1]; axe.run(document).then(r => done(r.violations.map(v => v.id)));"
    )
    assert found == [], f"axe with the element {state}: {found}"


def test_offers_appear_live_and_accept_charges_once(
    stack: Stack, client: redis.Redis, browser: webdriver.Chrome, app_origin: tuple[str, Path]
) -> None:
    origin, folder = app_origin
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.extra_env |= {"UPSELL_CLIENT_ORIGINS": origin, "UPSELL_OFFER_LINK_KEYS": KEY}
    stack.emulator()
    stack.web()
    stack.worker(threads=8)
    mint = lambda customer: stack.api(  # noqa: E731
        "POST", f"/api/customers/{customer}/client-tokens", json={"scopes": ["offers"]}
    ).json()["token"]
    (folder / "app.html").write_text(PAGE.format(base=stack.base_url, mine=mint(CUSTOMER), theirs=mint(OTHER)))
    browser.get(f"{origin}/app.html")
    wait_until(lambda: browser.execute_script("return customElements.get('upsell-offers') !== undefined"), 20)
    assert browser.execute_script(PARTS + ".length", "mine", "[part=offer]") == 0, "no offer yet"

    assert stack.post(purchase(CUSTOMER)).json()["status"] == "queued"
    assert stack.post(purchase(OTHER)).json()["status"] == "queued"
    wait_until(lambda: browser.execute_script(PARTS + ".length", "mine", "[part=offer]") == 1, 30, what="offer shown")
    wait_until(lambda: browser.execute_script(PARTS + ".length", "theirs", "[part=offer]") == 1, 30, what="theirs")
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1, "no reload"
    shown = _shadow_text(browser, "mine")
    assert "Priority support" in shown and "USD 8.10" in shown and "USD 9.00" in shown and "ADDON10" in shown, shown
    assert "Visa" in shown and "4242" in shown and "Yes, add it" in shown, shown
    assert "Sì, aggiungilo" in _shadow_text(browser, "theirs") and "8,10 USD" in _shadow_text(browser, "theirs")
    accent = browser.execute_script(
        "return getComputedStyle(" + PARTS.removeprefix("return ") + "[0]).backgroundColor", "mine", "[part=accept]"
    )
    assert accent == "rgb(1, 2, 3)", "styled through --upsell-accent"
    _axe(browser, "showing offers")

    browser.execute_script(PARTS + "[0].focus()", "mine", "[part=accept]")
    ActionChains(browser).send_keys(Keys.ENTER).send_keys(Keys.ENTER).perform()  # twice: still one charge
    wait_until(lambda: "It's yours. Thank you!" in _shadow_text(browser, "mine"), 30, what="converted")
    browser.execute_script(PARTS + "[0].click()", "theirs", "[part=decline]")
    wait_until(lambda: "Hai rifiutato questa offerta" in _shadow_text(browser, "theirs"), 30, what="declined")
    _axe(browser, "after the outcomes")
    assert len(charges(stack)) == 1, "Accept charged once"
    assert browser.execute_script(PARTS + ".length", "mine", "[part=accept]") == 0, "no button left to press"

    # A token that is not (or no longer) good: the element says so with `upsell-error`, status 401.
    browser.execute_script(
        """const el = document.createElement('upsell-offers');
        window.told = null;
        el.addEventListener('upsell-error', (e) => { window.told = e.detail; });
        el.setAttribute('token', 'ct_' + btoa(JSON.stringify({c: 'cus_x', s: ['offers'], e: 1})) + '.forged');
        document.querySelector('main').append(el);"""
    )
    wait_until(lambda: browser.execute_script("return window.told && window.told.status") == 401, 20, what="401 told")
