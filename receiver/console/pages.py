"""`/console`: sign in with a console token, then overview, rules, a customer, dead letters and
deliveries. Off (404) unless UPSELL_CONSOLE_TOKENS is set. Every action is a POST with the
session's CSRF token; a page without a session sends the browser to sign in."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import redis
import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from receiver.console import endpoints, moments, ruleset, views
from receiver.console.endpoints import bad as _bad
from receiver.console.session import Sessions
from receiver.console.throttle import Throttle
from worker.book import LiveBook
from worker.delivery import outbox
from worker.delivery.policy import Policy
from worker.queue import deadletters
from worker.stats import versions

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
Page = Callable[[Request], Awaitable[Response]]
log = structlog.get_logger("console")
# Every console answer: nothing from elsewhere, no script at all, forms post only here, never framed.
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _hardened(endpoint: Page) -> Page:
    async def answer(request: Request) -> Response:
        response = await endpoint(request)
        response.headers.update(HEADERS)
        return response

    return answer


class Console:
    def __init__(
        self,
        client: redis.Redis,
        tokens: tuple[str, ...],
        book: Callable[[], LiveBook],
        dodo_mode: str = "",
        policy: Policy | None = None,
        zone: str = "UTC",
    ) -> None:
        self.client, self.book, self.dodo_mode = client, book, dodo_mode
        self.sessions = Sessions(client, tokens)
        self.throttle = Throttle(client)
        self.endpoints = endpoints.EndpointPages(self, policy or Policy(()))
        TEMPLATES.env.filters["when"] = functools.partial(moments.when, zone=ZoneInfo(zone))

    def routes(self) -> list[Route]:
        routes = [
            ("/console/login", self.login, ["GET", "POST"]),
            ("/console/logout", self.logout, ["POST"]),
            ("/console", self._page("overview.html", self._overview), ["GET"]),
            ("/console/rules", self._page("rules.html", self._rules), ["GET"]),
            ("/console/customers", self._page("customer.html", self._customer), ["GET"]),
            ("/console/dead-letters", self._page("dead_letters.html", self._dead_letters), ["GET"]),
            ("/console/dead-letters/{record_id:path}/replay", self.replay_dead_letter, ["POST"]),
            ("/console/dead-letters/{record_id:path}/delete", self.delete_dead_letter, ["POST"]),
            ("/console/deliveries", self._page("deliveries.html", self._deliveries), ["GET"]),
            ("/console/deliveries/replay", self.replay_delivery, ["POST"]),
            *self.endpoints.routes(),
        ]
        return [Route(path, _hardened(endpoint), methods=methods) for path, endpoint, methods in routes]

    def _render(self, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
        return TEMPLATES.TemplateResponse(request, template, context, status_code=status)

    def _page(self, template: str, load: Callable[[Request], dict[str, Any]]) -> Page:
        async def page(request: Request) -> Response:
            csrf = await run_in_threadpool(self.sessions.csrf, request)
            if csrf is None:
                return RedirectResponse("/console/login", status_code=303)
            context = await run_in_threadpool(load, request)
            banner = await run_in_threadpool(endpoints.disabled, self.client, self.book())
            shown = {"csrf": csrf, "notice": request.query_params.get("done"), "disabled_endpoints": banner}
            return self._render(request, template, shown | context)

        return page

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._render(request, "login.html", {"csrf": None})
        address = request.client.host if request.client else "unknown"
        wait = await run_in_threadpool(self.throttle.wait, address)
        if wait:
            error = f"Too many failed sign-ins: try again in {wait} s."
            answer: Response = self._render(request, "login.html", {"csrf": None, "error": error}, 429)
            answer.headers["retry-after"] = str(wait)
            return answer
        form = await request.form()
        answer = RedirectResponse("/console", status_code=303)
        secure = request.url.scheme == "https"
        if await run_in_threadpool(self.sessions.sign_in, str(form.get("token", "")), answer, secure):
            return answer
        await run_in_threadpool(self.throttle.failed, address)
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
        return {"view": views.overview(self.client, self.book()), "dodo_mode": self.dodo_mode}

    def _rules(self, request: Request) -> dict[str, Any]:
        days = views.window(request.query_params.get("days"))
        report = views.rules(self.client, days)
        since, until = date.fromisoformat(report["since"]), date.fromisoformat(report["until"])
        split = versions.split(self.client, since, until)
        return {"days": days, "report": report, "ruleset": ruleset.view(self.book(), report, split)}

    def _customer(self, request: Request) -> dict[str, Any]:
        customer_id = request.query_params.get("id", "").strip()
        found = views.customer(self.client, self.book(), customer_id) if customer_id else None
        return {"customer_id": customer_id, "found": found}

    def _dead_letters(self, request: Request) -> dict[str, Any]:
        records = deadletters.all_records(self.client)
        return {"records": [{k: v for k, v in r.items() if k not in ("body", "args")} for r in records]}

    def _deliveries(self, request: Request) -> dict[str, Any]:
        return {"records": outbox.dead_records(self.client), "endpoint_ids": sorted(self.book().get().endpoints)}

    async def replay_dead_letter(self, request: Request) -> Response:
        refused = await self._refused(request)
        if refused:
            return refused
        form = await request.form()
        upload: Any = form.get("body")
        body = (await upload.read()).decode("utf-8", "replace") if upload and getattr(upload, "filename", "") else None
        record_id, by = request.path_params["record_id"], self.sessions.who(request)
        try:
            await run_in_threadpool(deadletters.replay, self.client, record_id, body, by)
        except KeyError:
            return _bad(404, f"no dead letter {record_id!r}: it was replayed or deleted already")
        except ValueError as exc:
            return _bad(409, f"cannot replay {record_id!r}: {exc}")
        return RedirectResponse(
            f"/console/dead-letters?{urlencode({'done': 'replayed ' + record_id})}", status_code=303
        )

    async def delete_dead_letter(self, request: Request) -> Response:
        refused = await self._refused(request)
        if refused:
            return refused
        record_id = request.path_params["record_id"]
        if not await run_in_threadpool(deadletters.delete, self.client, record_id):
            return _bad(404, f"no dead letter {record_id!r}: it was replayed or deleted already")
        log.info("dead_letter_deleted", record_id=record_id, by=self.sessions.who(request))
        return RedirectResponse(f"/console/dead-letters?{urlencode({'done': 'deleted ' + record_id})}", status_code=303)

    async def replay_delivery(self, request: Request) -> Response:
        refused = await self._refused(request)
        if refused:
            return refused
        form = await request.form()
        record_id, endpoint = str(form.get("id") or ""), str(form.get("endpoint") or "")
        if not record_id and not endpoint:
            return _bad(400, "say which: an `id` or an `endpoint`")
        wanted = [record_id] if record_id else [r["id"] for r in outbox.dead_records(self.client, endpoint)]
        if not wanted:
            return _bad(404, f"no dead deliveries for endpoint {endpoint!r}")
        for one in wanted:
            try:
                await run_in_threadpool(outbox.replay, self.client, one)
            except KeyError:
                return _bad(404, f"no dead delivery {one!r}: it was replayed already")
        log.info("deliveries_replayed", count=len(wanted), by=self.sessions.who(request))
        return RedirectResponse(f"/console/deliveries?done=replayed+{len(wanted)}", status_code=303)
