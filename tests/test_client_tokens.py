"""A client token in a browser reads and settles its own customer's offers, and nobody else's: the
offers routes take it (scope `offers`) beside API tokens, with CORS for UPSELL_CLIENT_ORIGINS."""

from __future__ import annotations

import redis

from tests.conftest import HTTP, Stack
from tests.test_charges import CUSTOMER, RULES, charges, offer_state, pending_offer, purchase

ORIGIN = "https://shop.example"


def test_a_client_token_accepts_its_own_offer_and_sees_no_other(stack: Stack, client: redis.Redis) -> None:
    (stack.rules_dir / "upsell.yaml").write_text(RULES)
    stack.extra_env["UPSELL_CLIENT_ORIGINS"] = ORIGIN
    stack.emulator()
    stack.web()
    stack.worker(threads=8)
    mine = pending_offer(stack, client, purchase())
    theirs = pending_offer(stack, client, purchase("cus_someone_else"))
    token = stack.api("POST", f"/api/customers/{CUSTOMER}/client-tokens", json={"scopes": ["offers"]}).json()["token"]
    as_browser = {"authorization": f"Bearer {token}", "origin": ORIGIN}
    listed = HTTP.get(f"{stack.base_url}/api/customers/{CUSTOMER}/offers", headers=as_browser)
    assert listed.status_code == 200 and [o["offer_id"] for o in listed.json()["offers"]] == [mine["offer_id"]]
    assert listed.headers["access-control-allow-origin"] == ORIGIN
    assert HTTP.get(f"{stack.base_url}/api/customers/cus_someone_else/offers", headers=as_browser).status_code == 403
    assert HTTP.get(f"{stack.base_url}/api/offers/{theirs['offer_id']}", headers=as_browser).status_code == 404
    assert HTTP.post(f"{stack.base_url}/api/offers/{theirs['offer_id']}/accept", headers=as_browser).status_code == 404
    assert HTTP.get(f"{stack.base_url}/api/customers/{CUSTOMER}/access", headers=as_browser).status_code == 401
    accepted = HTTP.post(f"{stack.base_url}/api/offers/{mine['offer_id']}/accept", headers=as_browser)
    assert accepted.status_code == 202
    offer_state(stack, mine["offer_id"], "converted")
    assert len(charges(stack)) == 1
    flags_only = stack.api("POST", f"/api/customers/{CUSTOMER}/client-tokens", json={"scopes": ["flags"]}).json()[
        "token"
    ]
    refused = HTTP.get(
        f"{stack.base_url}/api/customers/{CUSTOMER}/offers", headers={"authorization": f"Bearer {flags_only}"}
    )
    assert refused.status_code == 403
    preflight = HTTP.options(
        f"{stack.base_url}/api/offers/{mine['offer_id']}/accept",
        headers={"origin": ORIGIN, "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == ORIGIN
