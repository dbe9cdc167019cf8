"""Webhooks the emulator sends, as Dodo does: signed, retried on a (shortened) schedule until a 2xx."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import httpx

from emulator.state import State
from worker.signing import signed_headers


class Outbound:
    def __init__(self, state: State) -> None:
        self.state = state
        self.tasks: set[asyncio.Task[None]] = set()  # kept so a running delivery is not collected

    async def deliver(self, event: dict[str, Any]) -> None:
        """POST a signed webhook, retrying like Dodo (shortened) until it gets a 2xx."""
        if not self.state.webhook_url or not self.state.secret:
            return
        self.state.remember_payment(event)
        body = json.dumps(event).encode()
        webhook_id = "msg_" + secrets.token_hex(12)
        record = {"webhook_id": webhook_id, "type": event["type"], "statuses": []}
        self.state.deliveries.append(record)
        async with httpx.AsyncClient(timeout=15) as client:
            for wait in (0.1, 0.5, 1, 2, 5, 10):
                await asyncio.sleep(wait)
                try:
                    answer = await client.post(
                        self.state.webhook_url,
                        content=body,
                        headers=signed_headers(self.state.secret, webhook_id, body),
                    )
                    record["statuses"].append(answer.status_code)
                    if answer.is_success:
                        return
                except httpx.HTTPError as exc:
                    record["statuses"].append(type(exc).__name__)

    def settle(self, *events: dict[str, Any]) -> None:
        """Dodo's records hold a payment as soon as it is made, whether or not its webhook arrives."""
        for event in events:
            self.state.remember_payment(event)
        self.send_later(*events)

    def send_later(self, *events: dict[str, Any]) -> None:
        async def run() -> None:
            for event in events:
                await self.deliver(event)

        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
