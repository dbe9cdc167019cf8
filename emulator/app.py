"""The emulator's HTTP API: Dodo's endpoints the worker uses, plus `/_emulator/*` to seed and steer it.

It records every request, can fail (status) or stall (delay) on demand before or after doing the
work, and after a confirmed checkout or plan change delivers signed webhooks, as Dodo does
(emulator/outbound.py).
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import discounts, lifecycle, shapes
from emulator.discounts import Discounts, Refused
from emulator.outbound import Outbound
from emulator.state import Fault, State


def _error(status: int, message: str, code: str = "EMULATOR_ERROR") -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class Emulator:
    """Dodo's side of every call the worker makes, over one State; each handler a method."""

    def __init__(self, webhook_url: str | None, secret: str | None, seed: dict[str, Any] | None) -> None:
        self.state = State(webhook_url, secret)
        for name in ("customers", "products", "subscriptions"):
            getattr(self.state, name).update(copy.deepcopy((seed or {}).get(name, {})))
        payments = (seed or {}).get("payments", {})
        self.state.payments.update({pid: lifecycle.payment(pid, spec) for pid, spec in payments.items()})
        self.discounts = Discounts()
        self.discounts.seed(copy.deepcopy((seed or {}).get("discounts", {})))
        self.outbound = Outbound(self.state)

    def discount(self, request: Request, body: Any) -> Response:
        code = request.path_params["code"].upper()
        spec = self.discounts.known.get(code)
        return JSONResponse(discounts.shape(code, spec)) if spec else _error(404, f"no code {code}", "NOT_FOUND")

    def price_of(self, product_id: str) -> tuple[int, str]:
        spec = self.state.products[product_id]
        return spec["price"], spec["currency"]

    async def guarded(self, request: Request, work: Any) -> Response:
        """Record, apply any fault, then do the work (sync function of the parsed body)."""
        raw = await request.body()
        body = json.loads(raw) if raw else None
        path = request.url.path
        self.state.requests.append(
            {"method": request.method, "path": path, "body": body, "query": dict(request.query_params)}
        )
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "missing bearer token")
        fault = self.state.fault_for(request.method, path)
        self.state.in_flight += 1
        self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)
        try:
            if fault and not fault.after:
                await asyncio.sleep(fault.delay)
                return _error(fault.status, "injected fault")
            try:
                response = work(request, body)
            except Refused as refused:  # a discount code that cannot apply: Dodo answers 422, changes nothing
                return _error(422, str(refused), refused.code)
            if fault:
                await asyncio.sleep(fault.delay)
                return _error(fault.status, "injected fault after the work was done")
            return response
        finally:
            self.state.in_flight -= 1

    def payment_methods(self, request: Request, body: Any) -> Response:
        customer = self.state.customers.get(request.path_params["customer_id"])
        if customer is None:
            return _error(404, "customer not found")
        items = [{k: v for k, v in m.items() if k != "decline_code"} for m in customer.get("payment_methods", [])]
        return JSONResponse({"items": items})

    def product(self, request: Request, body: Any) -> Response:
        product_id = request.path_params["product_id"]
        if product_id not in self.state.products:
            return _error(404, "product not found")
        return JSONResponse(shapes.product(product_id, self.state.products[product_id]))

    def create_checkout(self, request: Request, body: Any) -> Response:
        session_id = "cks_" + secrets.token_hex(10)
        customer_id = str((body.get("customer") or {}).get("customer_id") or "")
        cart = [{"product_id": i["product_id"], "quantity": i.get("quantity", 1)} for i in body["product_cart"]]
        for item in cart:
            if item["product_id"] not in self.state.products:
                return _error(404, f"product {item['product_id']} not found")
        amount = sum(self.price_of(i["product_id"])[0] * i["quantity"] for i in cart)
        currency = self.price_of(cart[0]["product_id"])[1]
        codes = self.discounts.codes_of(body)
        amount -= self.discounts.amount_off(codes, customer_id, cart[0]["product_id"], amount, currency, self.state)
        session: dict[str, Any] = {
            "session_id": session_id,
            "customer_id": customer_id,
            "cart": cart,
            "metadata": body.get("metadata") or {},
            "payment_id": None,
            "payment_status": None,
        }
        self.state.sessions[session_id] = session
        method_id = body.get("payment_method_id")
        if not (method_id and body.get("confirm")):
            return JSONResponse(
                {"session_id": session_id, "checkout_url": f"https://checkout.emulator.local/{session_id}"}
            )
        methods = {
            m["payment_method_id"]: m
            for m in self.state.customers.get(customer_id or "", {}).get("payment_methods", [])
        }
        if method_id not in methods:
            return _error(422, "payment method does not belong to the customer")
        decline = methods[method_id].get("decline_code")
        applied = [] if decline else self.discounts.redeem(customer_id, codes)
        session.update(payment_id="pay_" + secrets.token_hex(10), payment_status="failed" if decline else "succeeded")
        self.outbound.settle(
            shapes.payment_event(
                "failed" if decline else "succeeded",
                payment_id=session["payment_id"],
                customer_id=customer_id,
                cart=cart,
                amount=amount,
                currency=currency,
                metadata=session["metadata"],
                payment_method_id=method_id,
                session_id=session_id,
                error_code=decline,
                discounts=applied,
            )
        )
        return JSONResponse({"session_id": session_id, "payment_id": session["payment_id"]})

    def checkout_status(self, request: Request, body: Any) -> Response:
        session = self.state.sessions.get(request.path_params["session_id"])
        if session is None:
            return _error(404, "session not found")
        return JSONResponse(
            {
                "id": session["session_id"],
                "created_at": shapes.now(),
                "payment_id": session["payment_id"],
                "payment_status": session["payment_status"],
            }
        )

    def subscription_data(self, subscription_id: str) -> dict[str, Any] | None:
        sub = self.state.subscriptions.get(subscription_id)
        if sub is None:
            return None
        price, currency = self.price_of(sub["product_id"])
        return shapes.subscription(subscription_id, sub, price, currency)

    def subscription(self, request: Request, body: Any) -> Response:
        data = self.subscription_data(request.path_params["subscription_id"])
        return JSONResponse(data) if data else _error(404, "subscription not found")

    def charge_for_change(self, sub: dict[str, Any], body: dict[str, Any]) -> int:
        """What changing the plan bills now; the new plan's price after the body's codes (Refused)."""
        new = self.price_of(body["product_id"])[0] * body["quantity"]
        codes, currency = self.discounts.codes_of(body), self.price_of(body["product_id"])[1]
        new -= self.discounts.amount_off(codes, sub["customer_id"], body["product_id"], new, currency, self.state)
        difference = max(new - self.price_of(sub["product_id"])[0] * sub.get("quantity", 1), 0)
        return {"full_immediately": new, "difference_immediately": difference, "do_not_bill": 0}.get(
            body["proration_billing_mode"], difference // 2
        )

    def preview_change(self, request: Request, body: Any) -> Response:
        subscription_id = request.path_params["subscription_id"]
        data = self.subscription_data(subscription_id)
        if data is None or body["product_id"] not in self.state.products:
            return _error(404, "subscription or product not found")
        price, currency = self.price_of(body["product_id"])
        charge = self.charge_for_change(self.state.subscriptions[subscription_id], body)
        return JSONResponse(shapes.preview(data, body["product_id"], body["quantity"], price, currency, charge))

    def change_plan(self, request: Request, body: Any) -> Response:
        subscription_id = request.path_params["subscription_id"]
        sub = self.state.subscriptions.get(subscription_id)
        if sub is None or body["product_id"] not in self.state.products:
            return _error(404, "subscription or product not found")
        charge = self.charge_for_change(sub, body)
        applied = self.discounts.redeem(sub["customer_id"], self.discounts.codes_of(body)) if charge > 0 else []
        sub.update(product_id=body["product_id"], quantity=body["quantity"], addons=body.get("addons") or [])
        data = self.subscription_data(subscription_id)
        assert data is not None
        events = [shapes.plan_changed_event(data)]
        payment_id = None
        if charge > 0:
            payment_id = "pay_" + secrets.token_hex(10)
            events.append(
                shapes.payment_event(
                    "succeeded",
                    payment_id=payment_id,
                    customer_id=sub["customer_id"],
                    cart=[{"product_id": body["product_id"], "quantity": body["quantity"]}],
                    amount=charge,
                    currency=self.price_of(body["product_id"])[1],
                    metadata=body.get("metadata") or {},
                    payment_method_id=None,
                    session_id=None,
                    subscription_id=subscription_id,
                    discounts=applied,
                )
            )
        self.outbound.settle(*events)
        return JSONResponse({"payment_id": payment_id})

    def api(self, method: str, path: str, work: Any) -> Route:
        async def endpoint(request: Request) -> Response:
            return await self.guarded(request, work)

        return Route(path, endpoint, methods=[method])

    async def seed_state(self, request: Request) -> Response:
        body = await request.json()
        for name in ("customers", "products", "subscriptions"):
            getattr(self.state, name).update(body.get(name, {}))
        self.discounts.seed(body.get("discounts", {}))
        self.state.payments.update(
            {pid: lifecycle.payment(pid, spec) for pid, spec in body.get("payments", {}).items()}
        )
        if "webhook_url" in body:
            self.state.webhook_url = body["webhook_url"]
        if "secret" in body:
            self.state.secret = body["secret"]
        return JSONResponse({"status": "seeded"})

    def payments(self, request: Request, body: Any) -> Response:
        query = request.query_params
        size, number = int(query.get("page_size", "10")), int(query.get("page_number", "0"))
        found = self.state.payments_of(query.get("customer_id"), query.get("created_at_gte"))
        return JSONResponse({"items": found[number * size : (number + 1) * size]})

    def payment(self, request: Request, body: Any) -> Response:
        found = self.state.payments.get(request.path_params["payment_id"])
        return JSONResponse(found) if found else _error(404, "payment not found")

    async def lifecycle_event(self, request: Request) -> Response:
        """Send a subscription, refund or dispute webhook, as Dodo would after that change."""
        body = await request.json()
        sub = self.subscription_data(body.get("subscription_id", ""))
        try:
            event = lifecycle.event(body["type"], body, sub, self.state.payments.get(body.get("payment_id", "")))
        except KeyError as exc:
            return _error(400, f"cannot build {body.get('type')!r}: {exc}")
        self.outbound.send_later(event)
        return JSONResponse({"status": "sent", "type": event["type"]})

    async def faults(self, request: Request) -> Response:
        self.state.faults.append(Fault(**await request.json()))
        return JSONResponse({"faults": len(self.state.faults)})

    async def recorded(self, request: Request) -> Response:
        recorded = {
            "requests": self.state.requests,
            "deliveries": self.state.deliveries,
            "max_in_flight": self.state.max_in_flight,
        }
        return JSONResponse(recorded)

    def routes(self) -> list[Route]:
        return [
            self.api("GET", "/customers/{customer_id}/payment-methods", self.payment_methods),
            self.api("GET", "/products/{product_id}", self.product),
            self.api("GET", "/discounts/code/{code}", self.discount),
            self.api("POST", "/checkouts", self.create_checkout),
            self.api("GET", "/checkouts/{session_id}", self.checkout_status),
            self.api("GET", "/subscriptions/{subscription_id}", self.subscription),
            self.api("POST", "/subscriptions/{subscription_id}/change-plan/preview", self.preview_change),
            self.api("POST", "/subscriptions/{subscription_id}/change-plan", self.change_plan),
            Route("/_emulator/seed", self.seed_state, methods=["POST"]),
            self.api("GET", "/payments/{payment_id}", self.payment),
            self.api("GET", "/payments", self.payments),
            Route("/_emulator/lifecycle", self.lifecycle_event, methods=["POST"]),
            Route("/_emulator/faults", self.faults, methods=["POST"]),
            Route("/_emulator/requests", self.recorded, methods=["GET"]),
        ]


def create_app(
    webhook_url: str | None = None, secret: str | None = None, seed: dict[str, Any] | None = None
) -> Starlette:
    return Starlette(routes=Emulator(webhook_url, secret, seed).routes())
