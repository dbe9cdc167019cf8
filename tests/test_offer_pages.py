"""Offers reach the customer with no app code: the signed `offer_url` opens the offer's own page in
Chromium, Accept (pressed twice) charges once, the page follows the charge to "it's yours", a
tampered link is a 404 that says nothing, the page speaks the browser's language (or the rule's),
No thanks holds against the same rule firing again, and the thank-you page shows the payment's offer.
axe-core finds no violation on any state."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from tests.conftest import HTTP, ROOT, Stack, drained, read_events, wait_until
from tests.test_charges import ADDON, COURSE, CUSTOMER, charges, offer_state, pending_offer, purchase
from tests.test_console import browser as browser

KEY = "k" * 32 + "0123456789abcdef0123456789abcdef"
AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
RULES = f"""rules:
  - id: addon
    on: payment.succeeded
    when: {{product: [{COURSE}]}}
    offer: {{type: one_click, product: {ADDON}, discount_code: ADDON10}}
    expires_in: 2h
    limit: {{cooldown_after_decline: 30d}}
"""


@pytest.fixture
def pages(stack: Stack) -> Stack:
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.extra_env |= {"UPSELL_PUBLIC_URL": stack.base_url, "UPSELL_OFFER_LINK_KEYS": KEY}
    stack.emulator()
    stack.web()
    stack.worker(threads=8)
    return stack


SHOTS = ROOT / "screenshots"


def _main_text(chrome: webdriver.Chrome) -> str:
    """The page's main text; "" while the page refreshes itself (a charge settling) under the read."""
    try:
        return str(chrome.find_element(By.TAG_NAME, "main").text)
    except (StaleElementReferenceException, NoSuchElementException):
        return ""


def no_violations(chrome: webdriver.Chrome, state: str) -> None:
    """axe-core finds nothing on this state of the page; a screenshot of it goes to screenshots/."""
    SHOTS.mkdir(exist_ok=True)
    chrome.save_screenshot(str(SHOTS / f"offer-{state}.png"))
    chrome.execute_script(AXE.read_text())
    found: Any = chrome.execute_async_script(
        "const done = arguments[arguments.length - 1]; axe.run(document).then(r => done(r.violations.map(v => v.id)));"
    )
    assert found == [], f"axe on the {state} page: {found}"


def test_the_offer_page_from_link_to_conversion(
    pages: Stack,
    client: redis.Redis,
    browser: webdriver.Chrome,
) -> None:
    offer = pending_offer(pages, client, purchase())
    url = offer["offer_url"]
    assert url.startswith(f"{pages.base_url}/o/{offer['offer_id']}.")
    browser.get(url)
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "Priority support" in text and "USD 8.10" in text and "USD 9.00" in text and "ADDON10" in text
    assert "Visa" in text and "4242" in text, "one click: the saved card, brand and last four"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "pm_" not in browser.page_source and "cks_" not in browser.page_source
    no_violations(browser, "pending")
    cookie = browser.get_cookie("upsell_offer_nonce")
    nonce = browser.find_element(By.NAME, "nonce").get_attribute("value")
    assert cookie and cookie["value"] == nonce and cookie["sameSite"] == "Strict" and cookie["httpOnly"]

    def press(_: int) -> int:
        jar = {"upsell_offer_nonce": nonce}
        return httpx.post(f"{url}/accept", data={"nonce": nonce}, cookies=jar, follow_redirects=False).status_code

    with ThreadPoolExecutor(2) as pool:  # Accept pressed twice at once
        assert list(pool.map(press, range(2))) == [303, 303]
    offer_state(pages, offer["offer_id"], "converted")
    browser.get(url)
    assert "It's yours" in browser.find_element(By.TAG_NAME, "main").text
    no_violations(browser, "converted")
    drained(client)
    assert len(charges(pages)) == 1, "one charge however often Accept is pressed"
    paid = charges(pages)[0]["body"]
    assert paid["discount_codes"] == ["ADDON10"]


def test_a_tampered_link_or_a_missing_nonce_reveals_nothing(pages: Stack, client: redis.Redis) -> None:
    offer = pending_offer(pages, client, purchase())
    url = offer["offer_url"]
    for bad in (
        url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"),
        f"{pages.base_url}/o/off_nothing.x",
        url + "x",
    ):
        answer = HTTP.get(bad)
        assert answer.status_code == 404 and "There is no offer at this address." in answer.text
        assert offer["offer_id"] not in answer.text and "Priority" not in answer.text
    other = pending_offer(pages, client, purchase("cus_other"))
    swapped = other["offer_url"].rpartition(".")[0] + "." + url.rpartition(".")[2]  # one offer's signature on another
    assert HTTP.get(swapped).status_code == 404
    refused = HTTP.post(f"{url}/accept", data={"nonce": "guessed"})
    assert refused.status_code == 403 and offer_state(pages, offer["offer_id"], "pending")


def test_the_page_speaks_the_browsers_language_or_the_rules(pages: Stack, client: redis.Redis) -> None:
    offer = pending_offer(pages, client, purchase())
    italian = HTTP.get(offer["offer_url"], headers={"accept-language": "it-IT,it;q=0.9,en;q=0.5"})
    assert '<html lang="it">' in italian.text and "Sì, aggiungilo" in italian.text and "8,10 USD" in italian.text
    spanish = HTTP.get(offer["offer_url"], headers={"accept-language": "de, es;q=0.8"})
    assert '<html lang="es">' in spanish.text and "No, gracias" in spanish.text
    (pages.rules_dir / "upsell.yaml").write_text(
        RULES.replace("    expires_in: 2h\n", "    expires_in: 2h\n    locale: es\n")
    )
    wait_until(lambda: "rules_reloaded" in pages.procs[-1].output(), what="the edit")
    ruled = pending_offer(pages, client, purchase("cus_es"))
    assert '<html lang="es">' in HTTP.get(ruled["offer_url"], headers={"accept-language": "en"}).text


def test_no_thanks_holds_when_the_rule_fires_again(pages: Stack, client: redis.Redis) -> None:
    offer = pending_offer(pages, client, purchase())
    page = HTTP.get(offer["offer_url"])
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    cookie = {"cookie": f"upsell_offer_nonce={nonce}"}
    declined = HTTP.post(f"{offer['offer_url']}/decline", data={"nonce": nonce}, headers=cookie)
    assert declined.status_code == 303
    assert "You declined this offer" in HTTP.get(offer["offer_url"]).text
    assert pages.post(purchase()).json()["status"] == "queued"
    drained(client)
    offers = pages.api("GET", f"/api/customers/{CUSTOMER}/offers").json()["offers"]
    assert [o["state"] for o in offers] == ["declined"], "the cooldown after a decline"


def test_the_thank_you_page_shows_the_payments_offer(pages: Stack, client: redis.Redis) -> None:
    bought = purchase("cus_thanks")
    assert pages.post(bought).json()["status"] == "queued"
    payment_id = bought["data"]["payment_id"]
    page = HTTP.get(f"{pages.base_url}/thanks", params={"payment_id": payment_id, "status": "succeeded"})
    assert page.status_code == 200 and "Before you go" in page.text and "/o/off_" in page.text
    nothing = HTTP.get(f"{pages.base_url}/thanks", params={"payment_id": "pay_unknown"})
    assert nothing.status_code == 200 and "Your purchase is complete." in nothing.text


def test_a_follow_up_made_days_later_carries_a_link_that_works_then(stack: Stack, client: redis.Redis) -> None:
    from tests.test_days import restart

    follow_up = RULES.replace("    expires_in: 2h\n", "    delay: 3d\n    expires_in: 2d\n")
    (stack.rules_dir / "upsell.yaml").write_text(follow_up)
    stack.extra_env |= {"UPSELL_PUBLIC_URL": stack.base_url, "UPSELL_OFFER_LINK_KEYS": KEY}
    stack.emulator()
    stack.web()
    stack.worker(threads=8)
    assert stack.post(purchase()).json()["status"] == "queued"
    drained(client)
    assert stack.api("GET", f"/api/customers/{CUSTOMER}/offers").json()["offers"] == []
    restart(stack, 3 * 86400 + 3600)  # every process three days and an hour on
    offer = wait_until(
        lambda: next(iter(stack.api("GET", f"/api/customers/{CUSTOMER}/offers").json()["offers"]), None),
        30,
        what="the follow-up, made when its delay ran out",
    )
    page = HTTP.get(offer["offer_url"])
    assert page.status_code == 200 and "Yes, add it" in page.text and "Priority support" in page.text


def test_every_other_state_of_the_pages_in_a_browser(
    pages: Stack,
    client: redis.Redis,
    browser: webdriver.Chrome,
) -> None:
    """The thank-you page, No thanks pressed, a one-click that fell back to checkout, a dead link."""
    pages.dodo_control("seed", {"customers": {"cus_no_card": {"payment_methods": []}}})
    bought = purchase("cus_no_card")
    assert pages.post(bought).json()["status"] == "queued"
    browser.get(f"{pages.base_url}/thanks?payment_id={bought['data']['payment_id']}&status=succeeded")
    assert "Before you go" in browser.find_element(By.TAG_NAME, "main").text
    no_violations(browser, "thanks")
    browser.find_element(By.LINK_TEXT, "See the offer").click()
    assert "secure checkout" in browser.find_element(By.TAG_NAME, "main").text, "no saved card: checkout says so"
    browser.find_element(By.CSS_SELECTOR, "button.accept").click()
    wait_until(lambda: "did not go through" in _main_text(browser), what="failed page")
    assert browser.find_element(By.LINK_TEXT, "Complete the purchase at checkout").get_attribute("href")
    no_violations(browser, "failed")
    other = pending_offer(pages, client, purchase())
    browser.get(other["offer_url"])
    browser.find_element(By.CSS_SELECTOR, "button.decline").click()
    assert "You declined this offer" in browser.find_element(By.TAG_NAME, "main").text
    no_violations(browser, "declined")
    browser.get(other["offer_url"] + "x")
    assert "There is no offer at this address." in browser.find_element(By.TAG_NAME, "main").text
    no_violations(browser, "missing")


def test_an_italian_browser_gets_the_italian_page(pages: Stack, client: redis.Redis) -> None:
    import shutil

    offer = pending_offer(pages, client, purchase())
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--lang=it"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "it,it-IT"})
    italian = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    )
    try:
        italian.get(offer["offer_url"])
        assert italian.find_element(By.TAG_NAME, "html").get_attribute("lang") == "it"
        assert "Sì, aggiungilo" in italian.find_element(By.TAG_NAME, "main").text
        no_violations(italian, "pending-it")
    finally:
        italian.quit()


def test_links_work_with_no_keys_configured(stack: Stack, client: redis.Redis) -> None:
    """UPSELL_PUBLIC_URL alone: the worker and the receiver sign with one key they share in Redis."""
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.extra_env["UPSELL_PUBLIC_URL"] = stack.base_url
    stack.emulator()
    stack.web()
    stack.worker(threads=8)
    assert pending_offer(stack, client, purchase())
    (created,) = [e["data"] for e in read_events(client) if e["type"] == "offer.created"]
    assert created["offer_url"] and HTTP.get(created["offer_url"]).status_code == 200, "signed by the worker"
    assert client.get("upsell:offer-link-key")


def test_the_thank_you_page_finds_a_new_offer_behind_a_hundred_old_ones(pages: Stack, client: redis.Redis) -> None:
    from worker.offers import store
    from worker.offers.model import Offer

    for n in range(120):  # a long-standing customer: the payment's offer is the newest of many
        old = Offer(
            offer_id=f"off_old{n}",
            rule_id="old",
            variant="default",
            customer_id="cus_many",
            type="one_click",
            product_id=ADDON,
            quantity=1,
            created_at="2026-01-01T00:00:00Z",
            source=f"msg_old{n}",
            trigger="payment.succeeded",
        )
        assert store.create(client, "upsell:events", old, once=False, cooldown=False) == "created"
    bought = purchase("cus_many")
    assert pages.post(bought).json()["status"] == "queued"
    page = HTTP.get(f"{pages.base_url}/thanks", params={"payment_id": bought["data"]["payment_id"]})
    assert "Before you go" in page.text and "/o/off_" in page.text
