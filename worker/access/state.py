"""A customer's access as stored in Redis: typed, validated whenever it is read or written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Grant(BaseModel):
    """What one source (a subscription, or one product of a one-time payment) gives."""

    model_config = ConfigDict(extra="forbid")
    source: str
    product_id: str
    tier: str | None
    features: list[str]
    suspended: bool = False  # an open dispute on its payment (AccessState.suspending): kept, not counted
    ends_at: float | None = None  # unix time its scheduled revocation is due (cancelled, on hold, duration)
    end_reason: str | None = None  # why it ends then, and what said so: a revocation that finds this
    end_source: str | None = None  # grant ended earlier applies it first, with these (due order)
    limits: dict[str, int] = Field(default_factory=dict)  # its product's plan limits (access.yaml)

    def view(self) -> dict[str, Any]:
        ends = datetime.fromtimestamp(self.ends_at, UTC).isoformat().replace("+00:00", "Z") if self.ends_at else None
        return self.model_dump(exclude={"end_reason", "end_source"}) | {"ends_at": ends}


class Credit(BaseModel):
    """One credit entitlement's balance: the newest ledger entry's `balance_after` (by its time,
    then id), whatever order the webhooks came in; the name once Dodo has given it."""

    model_config = ConfigDict(extra="forbid")
    balance: int | float | None = None
    name: str | None = None
    at: float | None = None  # the newest applied entry's created_at
    entry: str | None = None  # and its id

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "balance": self.balance}


class AccessState(BaseModel):
    """Grants by key, the summary last computed from them, and per grant key the timestamp of the
    newest event applied to it (an older event changes nothing)."""

    model_config = ConfigDict(extra="forbid")
    version: int = 0
    tier: str | None = None
    features: list[str] = Field(default_factory=list)
    grants: dict[str, Grant] = Field(default_factory=dict)
    clock: dict[str, float] = Field(default_factory=dict)
    refunded_at: float | None = None  # newest refund: new offers are suppressed for a while after it
    open_disputes: list[str] = Field(default_factory=list)  # payment ids; no new offers while any is open
    suspending: dict[str, list[str]] = Field(default_factory=dict)  # open dispute's payment id -> grant keys
    limits: dict[str, int] = Field(default_factory=dict)  # the summary of counting grants' limits
    credits: dict[str, Credit] = Field(default_factory=dict)  # credit entitlement id -> balance

    @classmethod
    def loads(cls, raw: str | bytes | None) -> AccessState:
        return cls.model_validate_json(raw) if raw else cls()

    def dumps(self) -> str:
        return self.model_dump_json()

    def sorted_grants(self) -> list[Grant]:
        return sorted(self.grants.values(), key=lambda g: (g.source, g.product_id))

    def suppressed(self, window: int, now: float) -> str | None:
        """Why this customer gets no new offers now, if they don't."""
        if self.open_disputes:
            return "open_dispute"
        if self.refunded_at is not None and now - self.refunded_at < window:
            return "recently_refunded"
        return None

    def view(self, customer_id: str) -> dict[str, Any]:
        """The customer's access as the API and events show it."""
        return {
            "customer_id": customer_id,
            "version": self.version,
            "tier": self.tier,
            "features": self.features,
            "grants": [g.view() for g in self.sorted_grants()],
            "limits": self.limits,
            "credits": self.credits_view(),
        }

    def credits_view(self) -> dict[str, dict[str, Any]]:
        return {key: credit.view() for key, credit in sorted(self.credits.items())}

    def balances(self) -> dict[str, int | float]:
        """Balances by credit entitlement id and by name, for rules' `credits_below`."""
        found: dict[str, int | float] = {}
        for key, credit in self.credits.items():
            if credit.balance is not None:
                found[key] = credit.balance
                if credit.name:
                    found[credit.name] = credit.balance
        return found
