"""`/console`: sign in with a console token, then overview, rules, a customer, dead letters and
deliveries. Off (404) unless UPSELL_CONSOLE_TOKENS is set. Every action is a POST with the
session's CSRF token; a page without a session sends the browser to sign in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from receiver.console import views
from receiver.console.session import Sessions
from worker.book import LiveBook
from worker.delivery import outbox
from worker.queue import deadletters

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
Page = Callable[[Request], Awaitable[Response]]
POLICY = "default-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:"  # nothing from elsewhere


class Console:
    def __init__(self, client: redis.Redis, tokens: tuple[str, ...], book: Callable[[], LiveBook]) -> None:
        self.client, self.book = client, book
        self.sessions = Sessions(client, tokens)

    def routes(self) -> list[Route]:
        return [
            Route("/console/login", self.login, methods=["GET", "POST"]),
            Route("/console/logout", self.logout, methods=["POST"]),
            Route("/console", self._page("overview.html", self._overview)),
            Route("/console/rules", self._page("rules.html", self._rules)),
            Route("/console/customers", self._page("customer.html", self._customer)),
            Route("/console/dead-letters", self._page("dead_letters.html", self._dead_letters)),
            Route("/console/dead-letters/{record_id}/replay", self.replay_dead_letter, methods=["POST"]),
            Route("/console/dead-letters/{record_id}/delete", self.delete_dead_letter, methods=["POST"]),
            Route("/console/deliveries", self._page("deliveries.html", self._deliveries)),
            Route("/console/deliveries/replay", self.replay_delivery, methods=["POST"]),
        ]

    def _render(self, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
        answer = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
        answer.headers["cache-control"] = "no-store"
        answer.headers["content-security-policy"] = (
            "default-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:"
        )
        return answer

    def _page(self, template: str, load: Callable[[Request], dict[str, Any]]) -> Page:
        async def page(request: Request) -> Response:
            csrf = await run_in_threadpool(self.sessions.csrf, request)
            if csrf is None:
                return RedirectResponse("/console/login", status_code=303)
            context = await run_in_threadpool(load, request)
            return self._render(
                request, template, {"csrf": csrf, "notice": request.query_params.get("done"), **context}
            )

        return page

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._render(request, "login.html", {"csrf": None})
        form = await request.form()
        answer = RedirectResponse("/console", status_code=303)
        secure = request.url.scheme == "https"
        if await run_in_threadpool(self.sessions.sign_in, str(form.get("token", "")), answer, secure):
            return answer
        return self._render(request, "login.html", {"csrf": None, "error": "That console token is not valid."}, 401)

    async def logout(self, request: Request) -> Response:
        refused = await self._refused(request)
        if refused:
            return refused
        answer = RedirectResponse("/console/login", status_code=303)
        await run_in_threadpool(self.sessions.sign_out, request, answer)
        return answer

    async def _refused(self, request: Request) -> Response | None:
        """An action without a session, or without the session's CSRF token: 403, nothing done."""
        form = await request.form()
        if await run_in_threadpool(self.sessions.valid_action, request, form):
            return None
        return Response("refused: sign in again (missing or wrong CSRF token)", status_code=403)

    def _overview(self, request: Request) -> dict[str, Any]:
        return {"view": views.overview(self.client, self.book())}

    def _rules(self, request: Request) -> dict[str, Any]:
        days = views.window(request.query_params.get("days"))
        return {"days": days, "report": views.rules(self.client, days)}

    def _customer(self, request: Request) -> dict[str, Any]:
        customer_id = request.query_params.get("id", "").strip()
        found = views.customer(self.client, self.book(), customer_id) if customer_id else None
        return {"customer_id": customer_id, "found": found}

    def _dead_letters(self, request: Request) -> dict[str, Any]:
        records = deadletters.all_records(self.client)
        return {"records": [{k: v for k, v in r.items() if k not in ("body", "args")} for r in records]}

    def _deliveries(self, request: Request) -> dict[str, Any]:
        return {"records": outbox.dead_records(self.client)}

    async def replay_dead_letter(self, request: Request) -> Response:
        refused = await self._refused(request)
        if refused:
            return refused
        form = await request.form()
        upload: Any = form.get("body")
        body = (await upload.read()).decode("utf-8", "replace") if upload and getattr(upload, "filename", "") else None
        record_id = request.path_params["record_id"]
        try:
            await run_in_threadpool(deadletters.replay, self.client, record_id, body)
        except (KeyError, ValueError) as exc:
            return Response(f"cannot replay {record_id}: {exc}", status_code=409)
        return RedirectResponse(f"/console/dead-letters?done=replayed+{record_id}", status_code=303)

    async def delete_dead_letter(self, request: Request) -> Response:
        refused = await self._refused(request)
        if refused:
            return refused
        record_id = request.path_params["record_id"]
        await run_in_threadpool(deadletters.delete, self.client, record_id)
        return RedirectResponse(f"/console/dead-letters?done=deleted+{record_id}", status_code=303)

    async def replay_delivery(self, request: Request) -> Response:
        refused = await self._refused(request)
        if refused:
            return refused
        form = await request.form()
        wanted = (
            [str(form["id"])]
            if form.get("id")
            else [r["id"] for r in outbox.dead_records(self.client, str(form.get("endpoint")))]
        )
        for record_id in wanted:
            await run_in_threadpool(outbox.replay, self.client, record_id)
        return RedirectResponse(f"/console/deliveries?done=replayed+{len(wanted)}", status_code=303)
