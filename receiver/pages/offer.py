"""The pages customers reach with no app code: an offer's own page (`GET /o/<signed token>`, the
offer's `offer_url`) and the thank-you page a checkout returns to (`GET /thanks?payment_id=`).

Server-rendered, no script. Accept and No thanks are POSTs carrying a nonce that must match the
page's own cookie (SameSite=Strict), and go through the API's accept and decline (receiver/settling.py):
one charge however often Accept is pressed. A token that is not genuine for its offer and customer
is a 404 that says nothing about what exists.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from receiver import settling
from receiver.api import Api
from receiver.pages import words
from worker import keys
from worker.access import grants
from worker.access.payments import PaymentRecord
from worker.offers import links, store
from worker.offers.model import Offer

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
NONCE = "upsell_offer_nonce"
SETTLE_WAIT_SECONDS = 5.0  # after Accept, the page waits this long for the outcome, then refreshes itself
THANKS_WAIT_SECONDS = 3.0  # the purchase's webhook and its offers may land just after the customer does
THANKS_WINDOW_SECONDS = 30 * 60  # a payment's thank-you page shows its offers this long after they were made


class OfferPages:
    def __init__(self, api: Api) -> None:
        self.api = api

    def _find(self, token: str) -> Offer | None:
        offer_id = links.offer_id_of(token)
        offer = store.get(self.api.client, offer_id) if offer_id else None
        return offer if offer is not None and links.genuine(token, offer.customer_id) else None

    def _render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        lang = words.language(request.headers.get("accept-language", ""), context.pop("locale", None))
        shown = {"lang": lang, "w": words.WORDS[lang], "heading": words.WORDS[lang][context.pop("heading", "title")]}
        answer = TEMPLATES.TemplateResponse(request, name, shown | context, status_code=status)
        answer.headers.update(HEADERS)
        return answer

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        offer = await run_in_threadpool(self._find, token)
        if offer is None:
            return self._render(request, "offer.html", 404, state="missing", message="", heading="not_found")
        if "wait" in request.query_params and offer.state == "charging":
            offer_id = offer.offer_id
            settled = await self.api.waiters.until(
                SETTLE_WAIT_SECONDS,
                lambda: run_in_threadpool(store.get, self.api.client, offer_id),
                lambda o: o is not None and o.state != "charging",
            )
            offer = settled or offer
        state = "expired" if offer.state == "pending" and offer.expired() else offer.state
        context: dict[str, Any] = {"state": state, "locale": offer.locale, "base": f"/o/{token}"}
        context["refresh"] = state == "charging"
        context["checkout_url"] = offer.checkout_url
        nonce = secrets.token_urlsafe(16)
        if state == "pending":
            context |= await self._offer_context(request, offer) | {"nonce": nonce}
        answer = self._render(request, "offer.html", **context)
        answer.set_cookie(
            NONCE, nonce, httponly=True, samesite="strict", path="/o/", secure=request.url.scheme == "https"
        )
        return answer

    async def _offer_context(self, request: Request, offer: Offer) -> dict[str, Any]:
        """What the customer reads before choosing: the product, what it adds, the price as Dodo
        will charge it, and the saved card (brand, last four) when one click will do."""
        lang = words.language(request.headers.get("accept-language", ""), offer.locale)
        shown = await self.api.shown(offer)
        display = shown.get("display") or {}
        access = self.api.book().get().access
        state = await run_in_threadpool(grants.read, self.api.client, access, offer.customer_id)
        product = access.products.get(offer.product_id)
        adds = sorted(set(product.features) - set(state.features)) if product else []
        currency = display.get("currency")
        price_now, price = display.get("price_now"), display.get("price")
        listed = price * offer.quantity if isinstance(price, int) else None
        method = display.get("payment_method") or {}
        card = None
        if display.get("one_click") and method.get("last4"):
            card = words.WORDS[lang]["card"].format(brand=str(method.get("brand") or "").title(), last4=method["last4"])
        return {
            "shown": {"product_name": display.get("product_name") or offer.product_id},
            "adds": adds,
            "price_now": words.money(price_now, currency, lang),
            "price_list": words.money(listed, currency, lang) if listed is not None and listed != price_now else "",
            "code": (display.get("discount") or {}).get("code"),
            "card": card,
        }

    async def act(self, request: Request) -> Response:
        token, action = request.path_params["token"], request.path_params["action"]
        offer = await run_in_threadpool(self._find, token)
        if offer is None or action not in ("accept", "decline"):
            return self._render(request, "offer.html", 404, state="missing", message="", heading="not_found")
        form = await request.form()
        given, expected = str(form.get("nonce", "")), request.cookies.get(NONCE, "")
        if not expected or not hmac.compare_digest(given, expected):
            lang = words.language(request.headers.get("accept-language", ""), offer.locale)
            return self._render(request, "offer.html", 403, state="refused", message=words.WORDS[lang]["refused"])
        if action == "accept":
            await settling.accept(self.api, offer, 0)
        else:
            await run_in_threadpool(settling.decline, self.api, offer)
        return RedirectResponse(f"/o/{token}?wait=1", status_code=303, headers=HEADERS)

    async def thanks(self, request: Request) -> Response:
        """The offers a payment made, for a while after it; else the merchant's next page."""
        payment_id = request.query_params.get("payment_id", "")[:100]
        next_url = os.environ.get("UPSELL_THANKS_NEXT_URL", "").strip() or None
        offers = await self._made_by(payment_id) if payment_id else []
        if not offers and next_url:
            return RedirectResponse(next_url, status_code=303, headers=HEADERS)
        lang = words.language(request.headers.get("accept-language", ""), offers[0].locale if offers else None)
        listed = [
            {
                "name": (o.display or {}).get("product_name") or o.product_id,
                "price": words.money((o.display or {}).get("price_now"), (o.display or {}).get("currency"), lang),
                "url": links.url(o.offer_id, o.customer_id) or "",
            }
            for o in offers
        ]
        locale = offers[0].locale if offers else None
        return self._render(
            request, "thanks.html", offers=listed, next_url=next_url, heading="thanks_title", locale=locale
        )

    async def _made_by(self, payment_id: str) -> list[Offer]:
        def found() -> list[Offer]:
            raw = self.api.client.get(keys.payment(payment_id))
            if raw is None:
                return []
            customer_id = PaymentRecord.model_validate_json(raw).customer_id
            offers, _ = store.page(self.api.client, customer_id, 0, 100, newest_first=True)  # a payment's are new
            now = time.time()
            return [
                o
                for o in offers
                if o.source_payment_id == payment_id
                and o.state == "pending"
                and not o.expired()
                and now - _at(o.created_at) < THANKS_WINDOW_SECONDS
            ]

        return await self.api.waiters.until(THANKS_WAIT_SECONDS, lambda: run_in_threadpool(found), bool) or []

    def routes(self) -> list[Route]:
        return [
            Route("/o/{token}", self.page, methods=["GET"]),
            Route("/o/{token}/{action}", self.act, methods=["POST"]),
            Route("/thanks", self.thanks, methods=["GET"]),
        ]


def _at(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
