"""A customer's access as OpenFeature flags (the OFREP answers of receiver/ofrep.py).

Keys, stable: each feature in access.yaml by its own name (boolean), `limit.<name>` for each plan
limit (integer), `credits.<credit entitlement id>` (number: the balance), and `tier` (string). A key
the policy does not define is not found; a customer without the entitlement, or unknown here, gets
the off value (false, 0, no tier) with reason DEFAULT, never an error. Values are read-time truth:
the caller passes the state `grants.current` made (a grant past `ends_at` never counts).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from worker.access.config import AccessConfig
from worker.access.state import AccessState

CREDIT_KEY = re.compile(r"credits\.([A-Za-z0-9][A-Za-z0-9_.-]{0,63})")


class _Policy:
    """What the flags read of one policy, worked out once per loaded access.yaml (every evaluation
    would otherwise walk every product and hash the whole file): the keys it defines, with their
    types, the products that give each, and its tag."""

    def __init__(self, config: AccessConfig) -> None:
        self.config = config
        owners = [*config.products.items(), *config.entitlements.items()]
        self.defined: dict[str, str] = {"tier": "string"}
        granted: dict[str, set[str]] = {}
        for product_id, product in owners:
            for key, kind in [
                *((f, "boolean") for f in product.features),
                *((f"limit.{n}", "integer") for n in product.limits),
            ]:
                self.defined[key] = kind
                granted.setdefault(key, set()).add(product_id)
        self.defined |= {f"limit.{name}": "integer" for name in config.limits}
        self.granted_by = {key: ",".join(sorted(found)) for key, found in granted.items()}
        self.tag = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]


_last: list[_Policy] = []  # the policy last asked about: one book is live at a time


def _policy(config: AccessConfig) -> _Policy:
    if not _last or _last[0].config is not config:
        _last[:] = [_Policy(config)]
    return _last[0]


def etag(config: AccessConfig, customer_id: str, state: AccessState, known: bool) -> str:
    """The bulk answer's ETag: the policy, the customer and their access version (and, for the
    few seconds a grant's end is past but its revocation has not run, the grants that count)."""
    counting = ",".join(sorted(f"{g.source}/{g.product_id}" for g in state.grants.values()))
    raw = f"{_policy(config).tag}|{customer_id}|{known}|{state.version}|{counting}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:24] + '"'


def evaluate(config: AccessConfig, state: AccessState, key: str, known: bool) -> dict[str, Any] | None:
    """One success item, or None when the policy defines no such key."""
    kind = _policy(config).defined.get(key)
    credit = CREDIT_KEY.fullmatch(key)
    if kind is None and credit is None:
        return None
    meta: dict[str, Any] = {"access_version": state.version, "customer_known": known}
    if kind in ("boolean", "integer"):
        meta["granted_by"] = _policy(config).granted_by.get(key, "")
    if key == "tier":
        value: Any = state.tier
    elif kind == "boolean":
        value = key in state.features
        meta |= _grant_meta(state, lambda g: key in g.features)
    elif kind == "integer":
        value = state.limits.get(key.removeprefix("limit."))
        meta |= _grant_meta(state, lambda g: key.removeprefix("limit.") in g.limits)
    else:
        assert credit is not None
        held = state.credits.get(credit[1])
        value = float(held.balance) if held is not None and held.balance is not None else None
        meta |= {"credit_name": held.name} if held is not None and held.name else {}
    if value is None or value is False:
        off = {"string": None, "boolean": False, "integer": 0}.get(kind or "", 0.0)
        item: dict[str, Any] = {"key": key, "reason": "DEFAULT", "variant": "off", "metadata": meta}
        return item | ({} if off is None else {"value": off})  # no tier: the caller's default
    return {"key": key, "value": value, "reason": "TARGETING_MATCH", "variant": "on", "metadata": meta}


def bulk(config: AccessConfig, state: AccessState, known: bool) -> list[dict[str, Any]]:
    """Every defined key for this customer, and each credit they hold."""
    keys = sorted(_policy(config).defined) + [
        f"credits.{cid}" for cid in sorted(state.credits) if CREDIT_KEY.fullmatch(f"credits.{cid}")
    ]
    return [item for key in keys if (item := evaluate(config, state, key, known)) is not None]


def _grant_meta(state: AccessState, gives: Any) -> dict[str, Any]:
    """The grant that gives it (the one ending last, a lasting one first): its product and end."""
    giving = [g for g in state.grants.values() if not g.suspended and gives(g)]
    if not giving:
        return {}
    best = max(giving, key=lambda g: float("inf") if g.ends_at is None else g.ends_at)
    view = best.view()
    return {"product_id": view["product_id"], "ends_at": view["ends_at"]}
