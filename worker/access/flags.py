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


def defined(config: AccessConfig) -> dict[str, str]:
    """Every key the policy defines, and its flag type."""
    found: dict[str, str] = {"tier": "string"}
    products = [*config.products.values(), *config.entitlements.values()]
    for product in products:
        found |= {feature: "boolean" for feature in product.features}
        found |= {f"limit.{name}": "integer" for name in product.limits}
    return found | {f"limit.{name}": "integer" for name in config.limits}


def policy_tag(config: AccessConfig) -> str:
    """Changes exactly when the policy's answer could: part of every ETag."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]


def etag(config: AccessConfig, customer_id: str, state: AccessState, known: bool) -> str:
    """The bulk answer's ETag: the policy, the customer and their access version (and, for the
    few seconds a grant's end is past but its revocation has not run, the grants that count)."""
    counting = ",".join(sorted(f"{g.source}/{g.product_id}" for g in state.grants.values()))
    raw = f"{policy_tag(config)}|{customer_id}|{known}|{state.version}|{counting}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:24] + '"'


def evaluate(config: AccessConfig, state: AccessState, key: str, known: bool) -> dict[str, Any] | None:
    """One success item, or None when the policy defines no such key."""
    kind = defined(config).get(key)
    credit = CREDIT_KEY.fullmatch(key)
    if kind is None and credit is None:
        return None
    meta: dict[str, Any] = {"access_version": state.version, "customer_known": known}
    if kind in ("boolean", "integer"):
        meta["granted_by"] = granting(config, key)
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


def granting(config: AccessConfig, key: str) -> str:
    """The products (and Dodo entitlements) that give a feature or limit, comma-separated: what
    would unlock it, for an app to offer."""
    name = key.removeprefix("limit.")
    found = [
        product_id
        for product_id, product in [*config.products.items(), *config.entitlements.items()]
        if (name in product.limits if key.startswith("limit.") else key in product.features)
    ]
    return ",".join(sorted(found))


def bulk(config: AccessConfig, state: AccessState, known: bool) -> list[dict[str, Any]]:
    """Every defined key for this customer, and each credit they hold."""
    keys = sorted(defined(config)) + [
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
