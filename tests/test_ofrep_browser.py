"""OpenFeature's web SDK and OFREP web provider (published, nobody here wrote them) in Chromium: a
page holding a client token shows a flag, and a purchase webhook flips it on the open page through
the event stream, with no reload and no polling."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.conftest import ROOT, Stack, free_port, wait_until
from tests.test_console import browser as browser
from tests.test_ofrep import ACCESS, buy

NODE = ROOT / "tests" / "node"


@pytest.fixture
def page_server() -> Iterator[str]:
    """tests/node (the page and its node_modules) over HTTP: the page's own origin."""
    handler = functools.partial(_Quiet, directory=str(NODE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_purchase_flips_the_flag_on_an_open_page(
    stack: Stack,
    client: redis.Redis,
    browser: webdriver.Chrome,
    page_server: str,
    tmp_path: Path,
) -> None:
    assert (NODE / "node_modules" / "@openfeature" / "ofrep-web-provider").is_dir(), "run `python3 tasks.py test`"
    (stack.rules_dir / "access.yaml").write_text(ACCESS)
    stack.extra_env["UPSELL_CLIENT_ORIGINS"] = page_server
    stack.web()
    stack.worker()
    token = stack.api("POST", "/api/customers/cus_web/client-tokens", json={"scopes": ["flags"]}).json()["token"]
    browser.get(f"{page_server}/page.html?base={stack.base_url}&customer=cus_web&token={token}")
    shown = lambda: browser.find_element(By.ID, "course").text  # noqa: E731
    wait_until(lambda: shown() == "false", 20, what=f"the flag off at first: {shown()}")
    buy(stack, client, "cus_web")
    wait_until(lambda: shown() == "true", 20, what=f"the flag on without a reload, now {shown()}")
    assert browser.find_element(By.ID, "changes").text != "0", "told by the provider's change event"
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1, "no reload"
