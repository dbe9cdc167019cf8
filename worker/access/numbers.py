"""Credit balances from Dodo's credit ledger webhooks: each entry carries the balance after it, so
the newest entry (by its time, then its id) is the balance, whatever order the webhooks arrive in,
and an entry delivered twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from worker.access.state import AccessState, Credit


@dataclass(frozen=True)
class CreditEntry:
    entitlement_id: str
    balance: int | float | None  # None: only a name to learn (credit.balance_low)
    name: str | None = None
    at: float = 0.0  # the entry's created_at
    entry: str = ""  # its id


def apply(state: AccessState, entry: CreditEntry) -> None:
    held = state.credits.get(entry.entitlement_id) or Credit()
    if entry.name:
        held.name = entry.name
    newer = held.at is None or (entry.at, entry.entry) > (held.at, held.entry or "")
    if entry.balance is not None and newer:
        held.balance, held.at, held.entry = entry.balance, entry.at, entry.entry
    state.credits[entry.entitlement_id] = held
