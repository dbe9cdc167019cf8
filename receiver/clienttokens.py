"""Client tokens: what a browser may hold instead of an API token. Minted by the app's backend
(`POST /api/customers/{id}/client-tokens`, API token), bound to one customer, scoped (`flags`,
`offers`), expiring within 24 h; an HMAC-SHA256 over the claims with a key kept in Redis (made once,
shared by every receiver), so any receiver verifies any token with no lookup per request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import redis
from starlette.requests import Request
from starlette.responses import JSONResponse

from worker import keys, signing

PREFIX = "ct_"
SCOPES = ("flags", "offers")
DEFAULT_SECONDS, MAX_SECONDS = 3600, 24 * 3600


@dataclass(frozen=True)
class Claims:
    customer_id: str
    scopes: tuple[str, ...]
    expires_at: int


class Signer:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._key: bytes | None = None

    def key(self) -> bytes:
        """The shared signing key: made by the first receiver that needs it, read by the rest."""
        if self._key is None:
            self._key = signing.shared_key(self.client, keys.CLIENT_TOKEN_KEY)
        return self._key

    def mint(self, customer_id: str, seconds: int, scopes: tuple[str, ...]) -> tuple[str, int]:
        expires_at = int(time.time()) + seconds
        claims = {"c": customer_id, "s": list(scopes), "e": expires_at}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{PREFIX}{body}.{self._sign(body)}", expires_at

    def verify(self, token: str) -> Claims | None:
        """The claims of a genuine, unexpired token; None for anything else (said nowhere why)."""
        if not token.startswith(PREFIX) or token.count(".") != 1 or len(token) > 2048:
            return None
        body, _, signature = token[len(PREFIX) :].partition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            found = Claims(str(claims["c"]), tuple(claims["s"]), int(claims["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return found if found.expires_at > time.time() else None

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key(), body.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def lifetime(raw: object) -> int | None:
    """`ttl` of a mint request: seconds, or `90s`, `30m`, `1h`; 60 s to 24 h; None when invalid."""
    if raw is None:
        return DEFAULT_SECONDS
    text = str(raw).strip()
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
    if not number.isdigit() or len(number) > 6:
        return None
    seconds = int(number) * unit
    return seconds if 60 <= seconds <= MAX_SECONDS else None


CUSTOMER = "upsell.client_customer"  # request scope key: the customer a client token binds the call to


def offers_caller(request: Request, signer: Signer, refused: JSONResponse) -> JSONResponse | None:
    """A client token with the `offers` scope, for the customer in the path if there is one: the
    call goes on bound to that customer (None); anything else keeps the API's refusal."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    claims = signer.verify(given.strip()) if scheme.lower() == "bearer" else None
    if claims is None:
        return refused
    if (
        "offers" not in claims.scopes
        or request.path_params.get("customer_id", claims.customer_id) != claims.customer_id
    ):
        return JSONResponse({"error": "this client token is not for this customer's offers"}, status_code=403)
    request.scope[CUSTOMER] = claims.customer_id
    return None
