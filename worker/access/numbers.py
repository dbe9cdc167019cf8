"""Credit balances from Dodo's credit ledger webhooks: each entry carries the balance after it, so
the newest entry (by its time, then its id) is the balance, whatever order the webhooks arrive in,
and an entry delivered twice changes nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from worker.access.state import AccessState, Credit

# A credit balance as Dodo writes it: a plain decimal, at most 12 digits before the point and 3
# significant after it (trailing zeros aside), so it is exact as a number in JSON and in Python.
DECIMAL = re.compile(r"(-?)([0-9]{1,12})(?:\.([0-9]*?)0*)?")
MAX_FUTURE_SECONDS = 86_400  # a ledger entry dated further ahead than this would pin its balance for ever


def decimal(text: str) -> int | float | None:
    """The exact value of a decimal string within the bounds above, else None (`1_000`, ` 7 `,
    `1e30` and 20-digit numbers are not decimals here)."""
    found = DECIMAL.fullmatch(text)
    if found is None or len(found[3] or "") > 3:
        return None
    sign, whole, fraction = found.groups()
    return float(f"{sign}{whole}.{fraction}") if fraction else int(sign + whole)


@dataclass(frozen=True)
class CreditEntry:
    entitlement_id: str
    balance: int | float | None  # None: only a name to learn (credit.balance_low)
    name: str | None = None
    at: float = 0.0  # the entry's created_at
    entry: str = ""  # its id


def apply(state: AccessState, entry: CreditEntry) -> None:
    if entry.balance is None and not entry.name:
        return  # nothing to learn: no entry appears, so no version moves
    held = state.credits.get(entry.entitlement_id) or Credit()
    if entry.name:
        held.name = entry.name
    newer = held.at is None or (entry.at, entry.entry) > (held.at, held.entry or "")
    if entry.balance is not None and newer:
        held.balance, held.at, held.entry = entry.balance, entry.at, entry.entry
    state.credits[entry.entitlement_id] = held
