"""Signed offer links: `offer_url` = UPSELL_PUBLIC_URL + `/o/<offer id>.<signature>`, the signature
an HMAC-SHA256 over the offer id and its customer with the first key of UPSELL_OFFER_LINK_KEYS (every
key listed verifies, so a key is rotated by putting the new one first and dropping the old one once
the links it signed have expired); without that variable, a key made once in Redis and shared by
every process (`upsell:offer-link-key`). A link is good as long as its offer is: the page says when
the offer expired or was settled. Without UPSELL_PUBLIC_URL offers carry no link.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
from typing import Any

from worker import keys, signing

OFFER_ID = re.compile(r"off_[A-Za-z0-9]{1,64}")


_shared: list[bytes] = []  # the Redis-made key, once `share` has read it


@functools.cache
def _configured() -> tuple[str, tuple[bytes, ...]]:
    public = os.environ.get("UPSELL_PUBLIC_URL", "").strip().rstrip("/")
    keys = tuple(k.strip().encode() for k in os.environ.get("UPSELL_OFFER_LINK_KEYS", "").split(",") if k.strip())
    return public, keys


def _settings() -> tuple[str, tuple[bytes, ...]]:
    public, keys = _configured()
    return public, keys or tuple(_shared)


def share(client: Any) -> None:
    """At a process's start: with links on and no UPSELL_OFFER_LINK_KEYS, read (or make, once for
    every process) the key kept in Redis."""
    public, configured = _configured()
    if not public or configured or _shared:
        return
    _shared.append(signing.shared_key(client, keys.OFFER_LINK_KEY))


def _sign(key: bytes, offer_id: str, customer_id: str) -> str:
    digest = hmac.new(key, f"{offer_id}\x1f{customer_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def url(offer_id: str, customer_id: str) -> str | None:
    public, keys = _settings()
    if not public or not keys:
        return None
    return f"{public}/o/{offer_id}.{_sign(keys[0], offer_id, customer_id)}"


def offer_id_of(token: str) -> str | None:
    """The offer id a token names, if it has the shape of one (its signature is checked with `genuine`)."""
    offer_id, _, signature = token.partition(".")
    return offer_id if OFFER_ID.fullmatch(offer_id) and len(signature) == 32 else None


def genuine(token: str, customer_id: str) -> bool:
    """Signed by one of the keys for this offer and this customer."""
    offer_id, _, signature = token.partition(".")
    _, keys = _settings()
    found = False
    for key in keys:
        found |= hmac.compare_digest(signature, _sign(key, offer_id, customer_id))
    return found
