"""The console's endpoint pages: an endpoint's health and attempt log, and what its operator may do
about it (send a test event, recover an outage's deliveries, resend one event, enable it again),
each a POST with the session's CSRF token; and the banner every page shows for a disabled endpoint."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import redis
import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from worker import keys
from worker.book import LiveBook
from worker.delivery import attempts, health, outbox, recovery
from worker.delivery.policy import Policy
from worker.folder.yamlsource import parse_duration

if TYPE_CHECKING:
    from receiver.console.pages import Console

log = structlog.get_logger("console")
SHOWN = 100  # newest attempts on the page; the CLI prints them all


def disabled(client: redis.Redis, book: LiveBook) -> list[str]:
    """Endpoint ids disabled now (410 Gone, or failing for days): each gets a banner."""
    ids = sorted(book.get().endpoints)
    return [endpoint_id for endpoint_id in ids if client.exists(keys.delivery_disabled(endpoint_id))]


class EndpointPages:
    def __init__(self, console: Console, policy: Policy) -> None:
        self.console, self.policy, self.client = console, policy, console.client

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [
            ("/console/endpoints/{endpoint_id}", self.console._page("endpoint.html", self._view), ["GET"]),
            ("/console/endpoints/{endpoint_id}/{action}", self.act, ["POST"]),
        ]

    def _view(self, request: Request) -> dict[str, Any]:
        endpoint_id = request.path_params["endpoint_id"]
        lines = attempts.read(self.client, endpoint_id)
        count, age = outbox.pending(self.client, endpoint_id)
        found: Any = self.client.hgetall(keys.delivery_health(endpoint_id))
        return {
            "endpoint_id": endpoint_id,
            "known": endpoint_id in self.console.book().get().endpoints,
            "is_disabled": bool(self.client.exists(keys.delivery_disabled(endpoint_id))),
            "failing_since": attempts.iso(float(found["first_failure"])) if found.get("first_failure") else None,
            "pending": count,
            "oldest_seconds": round(age),
            "dead": len(outbox.dead_records(self.client, endpoint_id)),
            "attempts": list(reversed(lines[-SHOWN:])),
            "total": len(lines),
        }

    async def act(self, request: Request) -> Response:
        refused = await self.console._refused(request)
        if refused:
            return refused
        endpoint_id, action = request.path_params["endpoint_id"], request.path_params["action"]
        form = await request.form()
        by = self.console.sessions.who(request)
        if action == "enable":
            was = await run_in_threadpool(health.enable, self.client, self.policy, endpoint_id, "console")
            done = "enabled again" if was else "it was not disabled"
        elif action == "test":
            endpoint = self.console.book().get().endpoints.get(endpoint_id)
            if endpoint is None:
                return bad(404, f"no usable endpoint {endpoint_id!r} in endpoints.yaml")
            answer = await run_in_threadpool(recovery.test, self.client, endpoint, self.policy.log_retention_seconds)
            done = f"test answered {answer['status'] or answer['error']} in {answer['duration_ms']:.0f} ms"
        elif action == "recover":
            try:
                since = parse_duration(str(form.get("since") or "2h"))
            except ValueError as exc:
                return bad(400, f"since: {exc} (how far back, e.g. 2h or 3d)")
            everything = form.get("all") == "on"
            start = await run_in_threadpool(_now_minus, since)
            found = await run_in_threadpool(
                recovery.recover, self.client, self.policy.stream, endpoint_id, start, everything
            )
            done = f"queued {found['queued']} again"
        elif action == "resend":
            event_id = str(form.get("event_id") or "").strip()
            sent = await run_in_threadpool(recovery.resend, self.client, self.policy.stream, endpoint_id, event_id)
            if sent is None:
                return bad(404, f"no event {event_id[:80]!r} in the stream")
            done = f"resent {event_id}" if sent["queued"] else f"{event_id} is waiting already"
        else:
            return bad(404, f"no action {action[:40]!r}: enable, test, recover or resend")
        log.info("endpoint_action", endpoint=endpoint_id, action=action, by=by, outcome=done)
        url = f"/console/endpoints/{quote(endpoint_id)}?{urlencode({'done': done})}"
        return RedirectResponse(url, status_code=303)


def _now_minus(seconds: int) -> float:
    return time.time() - seconds


def bad(status: int, message: str) -> Response:
    """A console action's refusal: a short line saying what was wrong, never a traceback."""
    return Response(message[:300], status_code=status, media_type="text/plain")
