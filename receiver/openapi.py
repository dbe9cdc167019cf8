"""`GET /api/openapi.json`: the OpenAPI 3.1 description of `/api/...`, built from the models the
answers are made of (the stored Offer itself; the access view; errors), so apps can generate clients."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from worker import config
from worker.offers.model import Offer
from worker.rules.model import APP_TRIGGER, PRORATION_MODES


class Error(BaseModel):
    error: str
    code: str | None = None
    offer: Offer | None = None  # 409 on accept or decline: the offer as it is
    quote: dict[str, Any] | None = None  # 409 quote changed: the new quote


class GrantView(BaseModel):
    source: str
    product_id: str
    tier: str | None
    features: list[str]
    suspended: bool
    ends_at: str | None = Field(description="ISO 8601; when its revocation is due")
    limits: dict[str, int] = Field(description="its product's plan limits (access.yaml)")


class CreditView(BaseModel):
    name: str | None
    balance: float | None = Field(description="the newest ledger entry's balance_after")


class Access(BaseModel):
    customer_id: str
    version: int
    tier: str | None
    features: list[str]
    grants: list[GrantView]
    limits: dict[str, int] = Field(description="each limit: highest over counting grants, or their sum")
    credits: dict[str, CreditView] = Field(description="credit balances by credit entitlement id")
    ended: list[GrantView] = Field(description="grants whose end passed; their revocation has not run yet")


class AccessPage(BaseModel):
    items: list[Access]
    next_cursor: str | None


class Offers(BaseModel):
    customer_id: str
    offers: list[Offer] = Field(description="oldest first, at most `limit` (1..100, default 100)")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class Eligibility(BaseModel):
    customer_id: str
    product_id: str
    eligible: bool
    reason: str


class AppEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(pattern=APP_TRIGGER)
    data: dict[str, Any] = Field(default_factory=dict)


class AppEventAnswer(BaseModel):
    status: Literal["queued", "duplicate"]
    event_id: str
    type: str


class ChangePreview(BaseModel):
    subscription_id: str
    product_id: str
    quantity: int
    proration: str
    quote: dict[str, Any]


class Stats(BaseModel):
    model_config = ConfigDict(extra="allow")
    since: str
    until: str
    rules: list[dict[str, Any]]


class ClientTokenRequest(BaseModel):
    ttl: str | int | None = Field(default=None, description="60 s to 24 h: seconds, or 90s, 30m, 1h; default 1h")
    scopes: list[Literal["flags", "offers"]] | None = Field(default=None, description="default both")


class ClientToken(BaseModel):
    """A token a browser may hold: one customer's flags (OFREP) and offers, until `expires_at`."""

    token: str
    expires_at: str
    customer_id: str
    scopes: list[str]


MODELS = (
    Error,
    Access,
    AccessPage,
    Offers,
    Offer,
    Eligibility,
    AppEvent,
    AppEventAnswer,
    ChangePreview,
    Stats,
    ClientTokenRequest,
    ClientToken,
)
WAIT = {
    "name": "wait",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "pattern": "^[0-9]{1,6}(ms|s)?$"},
}


def _param(name: str, where: str = "path", **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema or {"type": "string"}}


def _answer(model: str, *errors: int, ok: int = 200, also: dict[int, str] | None = None) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model}"}
    answers: dict[str, Any] = {str(ok): {"description": model, "content": {"application/json": {"schema": ref}}}}
    for status, shown in (also or {}).items():
        answers[str(status)] = {"description": shown, "content": {"application/json": {"schema": ref}}}
    for status in (401, 503, *errors):
        error = {"$ref": "#/components/schemas/Error"}
        answers[str(status)] = {"description": "error", "content": {"application/json": {"schema": error}}}
    return answers


def _offer_paths(offer: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    return {
        "/api/offers/{offer_id}": {"get": {"parameters": [offer, scope], "responses": _answer("Offer", 404)}},
        "/api/offers/{offer_id}/accept": {
            "post": {
                "parameters": [offer, scope, WAIT],
                "responses": _answer("Offer", 400, 404, 409, 502, ok=202, also={200: "settled within the wait"}),
            }
        },
        "/api/offers/{offer_id}/decline": {
            "post": {"parameters": [offer, scope], "responses": _answer("Offer", 404, 409)}
        },
    }


def _paths() -> dict[str, Any]:
    customer, offer = _param("customer_id"), _param("offer_id")
    limit = _param("limit", "query", type="integer", minimum=1)
    scope, paging = _param("customer_id", "query"), [_param("cursor", "query"), limit]
    return {
        "/api/access": {"get": {"parameters": paging, "responses": _answer("AccessPage", 400)}},
        "/api/stats": {
            "get": {
                "parameters": [_param("since", "query"), _param("until", "query"), _param("rule", "query")],
                "responses": _answer("Stats", 400),
            }
        },
        "/api/customers/{customer_id}/access": {"get": {"parameters": [customer], "responses": _answer("Access")}},
        "/api/customers/{customer_id}/offers": {
            "get": {
                "parameters": [customer, WAIT, *paging],
                "responses": _answer("Offers", 400),
            }
        },
        "/api/customers/{customer_id}/eligibility": {
            "get": {
                "parameters": [customer, _param("product_id", "query")],
                "responses": _answer("Eligibility", 400, 404, 502),
            }
        },
        "/api/customers/{customer_id}/events": {
            "post": {
                "parameters": [customer, _param("Idempotency-Key", "header")],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AppEvent"}}},
                },
                "responses": _answer("AppEventAnswer", 400, 413, ok=202, also={200: "duplicate"}),
            }
        },
        "/api/customers/{customer_id}/client-tokens": {
            "post": {
                "parameters": [customer],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientTokenRequest"}}},
                },
                "responses": _answer("ClientToken", 400),
            }
        },
        **_offer_paths(offer, scope),
        "/api/subscriptions/{subscription_id}/change-preview": {
            "get": {
                "parameters": [
                    _param("subscription_id"),
                    _param("product_id", "query"),
                    _param("proration", "query", type="string", enum=list(PRORATION_MODES)),
                    _param("quantity", "query"),
                ],
                "responses": _answer("ChangePreview", 400, 404, 502),
            }
        },
    }


OPERATION_IDS = {  # the generated clients' function names (clients/typescript)
    ("get", "/api/access"): "listAccess",
    ("get", "/api/stats"): "getStats",
    ("get", "/api/customers/{customer_id}/access"): "getCustomerAccess",
    ("get", "/api/customers/{customer_id}/offers"): "listCustomerOffers",
    ("get", "/api/customers/{customer_id}/eligibility"): "getEligibility",
    ("post", "/api/customers/{customer_id}/events"): "sendAppEvent",
    ("post", "/api/customers/{customer_id}/client-tokens"): "createClientToken",
    ("get", "/api/offers/{offer_id}"): "getOffer",
    ("post", "/api/offers/{offer_id}/accept"): "acceptOffer",
    ("post", "/api/offers/{offer_id}/decline"): "declineOffer",
    ("get", "/api/subscriptions/{subscription_id}/change-preview"): "previewPlanChange",
}


@cache
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Offer"]["properties"]["offer_url"] = {  # added by Offer.view(): the signed link (offers/links.py)
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": "the offer's page for the customer (UPSELL_PUBLIC_URL); null without one",
    }
    paths = _paths()
    for path, operations in paths.items():
        for method, operation in operations.items():
            operation["operationId"] = OPERATION_IDS[(method, path)]
    return {
        "openapi": "3.1.0",
        "info": {"title": "dodo-upsell API", "version": config.version()},
        "components": {"schemas": schemas, "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "security": [{"token": []}],
        "paths": paths,
    }
