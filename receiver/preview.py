"""`GET /api/subscriptions/{id}/change-preview`: what a plan change would charge now, as Dodo
quotes it (the subscription's add-ons kept), through the receiver's bounded lane to Dodo."""

from __future__ import annotations

import re

from dodopayments import DodoPayments, DodoPaymentsError
from starlette.requests import Request
from starlette.responses import JSONResponse

from receiver.dodolane import DodoLane
from worker import dodo
from worker.offers import planchange
from worker.rules.model import PRORATION_MODES


class Preview:
    def __init__(self, lane: DodoLane, api: DodoPayments) -> None:
        self.lane, self.dodo = lane, api

    async def change_preview(self, request: Request) -> JSONResponse:
        product_id = request.query_params.get("product_id")
        proration = request.query_params.get("proration", "prorated_immediately")
        quantity = request.query_params.get("quantity", "1")
        if (
            not product_id
            or proration not in PRORATION_MODES
            or not re.fullmatch(r"[0-9]{1,5}", quantity)
            or not 1 <= int(quantity) <= 10_000
        ):
            error = f"need product_id; proration one of {list(PRORATION_MODES)}; quantity 1..10000"
            return JSONResponse({"error": error}, status_code=400)
        subscription_id = request.path_params["subscription_id"]
        try:
            quote = await self.lane.call(
                planchange.preview, self.dodo, subscription_id, product_id, int(quantity), proration
            )
        except DodoPaymentsError as exc:
            status = 404 if getattr(exc, "status_code", None) == 404 else 502
            return JSONResponse(
                {"error": f"Dodo answered {dodo.error_code(exc)}", "code": dodo.error_code(exc)}, status_code=status
            )
        except (ValueError, TypeError, AttributeError):  # pydantic's ValidationError is a ValueError
            return JSONResponse({"error": "Dodo's answer was unusable", "code": "dodo_bad_answer"}, status_code=502)
        wanted = {"product_id": product_id, "quantity": int(quantity), "proration": proration}
        return JSONResponse({"subscription_id": subscription_id, **wanted, "quote": quote})
