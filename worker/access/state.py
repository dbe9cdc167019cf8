"""A customer's access as stored in Redis: typed, validated whenever it is read or written."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Grant(BaseModel):
    """What one source (a subscription, or one product of a one-time payment) gives."""

    model_config = ConfigDict(extra="forbid")
    source: str
    product_id: str
    tier: str | None
    features: list[str]


class AccessState(BaseModel):
    """Grants by key, the summary last computed from them, and per grant key the timestamp of the
    newest event applied to it (an older event changes nothing)."""

    model_config = ConfigDict(extra="forbid")
    version: int = 0
    tier: str | None = None
    features: list[str] = Field(default_factory=list)
    grants: dict[str, Grant] = Field(default_factory=dict)
    clock: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def loads(cls, raw: str | bytes | None) -> AccessState:
        return cls.model_validate_json(raw) if raw else cls()

    def dumps(self) -> str:
        return self.model_dump_json()

    def sorted_grants(self) -> list[Grant]:
        return sorted(self.grants.values(), key=lambda g: (g.source, g.product_id))

    def view(self, customer_id: str) -> dict[str, Any]:
        """The customer's access as the API and events show it."""
        return {
            "customer_id": customer_id,
            "version": self.version,
            "tier": self.tier,
            "features": self.features,
            "grants": [g.model_dump() for g in self.sorted_grants()],
        }
