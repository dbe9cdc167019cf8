"""Every handled webhook type's effect, keyed by its catalog row: what it does to access
(effects.py) or the rules it starts (triggers.py). tests/test_catalog.py fails while a row has none."""

from __future__ import annotations

from worker import catalog
from worker.webhooks import effects, triggers

EFFECTS: dict[catalog.Webhook, effects.Effect] = {**effects.ACCESS, **triggers.TRIGGERS}
