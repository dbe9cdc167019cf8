"""Console sign-in: a console token (UPSELL_CONSOLE_TOKENS) buys a session kept in Redis for 8
hours. Its cookie is HttpOnly, SameSite=Strict and Secure over HTTPS; every action carries the
session's CSRF token. Only a hash of the cookie is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import redis
from starlette.requests import Request
from starlette.responses import Response

from worker import keys

COOKIE = "upsell_console"
SESSION_SECONDS = 8 * 3600


def _hashed(session: str) -> str:
    """What is stored and logged of a session cookie: its hash, never the cookie."""
    return hashlib.sha256(session.encode()).hexdigest()


def _key(session: str) -> str:
    return keys.console_session(_hashed(session))


class Sessions:
    def __init__(self, client: redis.Redis, tokens: tuple[str, ...]) -> None:
        self.client = client
        self.tokens = tuple(t.encode() for t in tokens)

    def sign_in(self, token: str, response: Response, secure: bool) -> bool:
        """A new session for a valid console token (compared in constant time), its cookie set."""
        offered = token.encode()
        if not any(hmac.compare_digest(offered, known) for known in self.tokens):
            return False
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.client.set(_key(session), csrf, ex=SESSION_SECONDS)
        response.set_cookie(
            COOKIE, session, max_age=SESSION_SECONDS, httponly=True, secure=secure, samesite="strict", path="/console"
        )
        return True

    def csrf(self, request: Request) -> str | None:
        """The signed-in session's CSRF token; None when signed out or expired."""
        session = request.cookies.get(COOKIE)
        if not session:
            return None
        found: Any = self.client.get(_key(session))
        return found.decode() if isinstance(found, bytes) else found

    def valid_action(self, request: Request, form: Any) -> bool:
        expected = self.csrf(request)
        offered = str(form.get("csrf", ""))
        return expected is not None and hmac.compare_digest(offered.encode(), expected.encode())

    def who(self, request: Request) -> str:
        """The signed-in session as logs name it (a short hash of its cookie)."""
        return _hashed(request.cookies.get(COOKIE, ""))[:16]

    def sign_out(self, request: Request, response: Response) -> None:
        session = request.cookies.get(COOKIE)
        if session:
            self.client.delete(_key(session))
        response.delete_cookie(COOKIE, path="/console")
