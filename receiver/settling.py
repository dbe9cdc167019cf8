"""Accepting and declining an offer: one path for the API and the offer page, so a page's Accept
charges exactly as the app's call does (once, however often it is pressed; eligibility checked again
by the charge right before money moves)."""

from __future__ import annotations

import time
from typing import Any

from dodopayments import DodoPaymentsError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from worker import dodo
from worker.offers import charge, planchange, store
from worker.offers.model import Offer

# Why an offer in this state cannot be accepted (or declined).
REFUSED = {
    "declined": "the offer was declined",
    "expired": "offer expired",
    "failed": "the charge failed and is not retried: use checkout_url",
}


def decline(api: Any, offer: Offer) -> JSONResponse:
    """200 with the declined offer (the rule's cooldown applies); 409 with why if it is not pending."""
    moved, found = store.transition(api.client, api.stream, offer.offer_id, "declined", event_type="offer.declined")
    assert found is not None
    if not moved:
        error = REFUSED.get(found.state, f"offer is {found.state}, only a pending offer can be declined")
        return JSONResponse({"error": error, "offer": found.view()}, status_code=409)
    api.ack.confirm(api.client)
    return JSONResponse(found.view())


async def accept(api: Any, offer: Offer, wait: float) -> JSONResponse:
    """202 once charging; again later or concurrently: 202 with the state, never a second charge.
    A plan change whose quote is older than 10 minutes is quoted again first: if it went up,
    nothing is charged and the new quote is answered (409) for the customer to see."""
    if offer.state == "pending" and offer.is_plan_change and planchange.stale(offer, time.time()):
        refused = await _requote(api, offer)
        if refused is not None:
            return refused
    moved, found = await run_in_threadpool(
        store.transition,
        api.client,
        api.stream,
        offer.offer_id,
        "charging",
        event_type="offer.accepted",
        also=charge.schedule_charge,
    )
    assert found is not None
    taken = moved or found.state in ("charging", "converted")  # by this call or an earlier one
    if taken:
        await run_in_threadpool(api.ack.confirm, api.client)
    if taken and wait > 0:
        settled = await api.waiters.until(
            wait,
            lambda: run_in_threadpool(store.get, api.client, found.offer_id),
            lambda o: o is not None and o.state in ("converted", "failed"),
        )
        if settled is not None and settled.state in ("converted", "failed"):
            return JSONResponse(settled.view(), status_code=200)  # settled within the wait
    if taken:
        return JSONResponse(found.view(), status_code=202)
    return JSONResponse({"error": REFUSED[found.state], "offer": found.view()}, status_code=409)


async def _requote(api: Any, offer: Offer) -> JSONResponse | None:
    try:
        fresh = await api.lane.call(planchange.offer_quote, api.dodo, offer)
    except DodoPaymentsError as exc:
        code = dodo.error_code(exc)
        return JSONResponse({"error": f"could not quote the change: Dodo answered {code}", "code": code}, 502)
    await run_in_threadpool(store.annotate, api.client, offer.offer_id, "pending", {"quote": fresh})
    if offer.quote is not None and fresh["total_amount"] > offer.quote["total_amount"]:
        return JSONResponse({"error": "quote changed", "quote": fresh}, status_code=409)
    return None
