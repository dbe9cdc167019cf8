"""An OpenFeature provider for Python apps that answers from a local cache: a check costs
microseconds, and the receiver being away never reaches the app.

Each customer's flags are the receiver's bulk OFREP answer, fetched once and kept; one event stream
for every customer (`GET /ofrep/v1/events` with the API token, on a daemon thread) drops a
customer's entry the moment their access changes, so the next check fetches it again. While the
stream is down, entries older than `stale_after` are fetched again when asked, and answered as they
were (reason STALE) if the receiver cannot be reached. Nothing known and nothing reachable: the
caller's default with reason ERROR. No method raises into the app.

    from openfeature import api
    from dodo_upsell.openfeature import UpsellProvider
    api.set_provider(UpsellProvider("https://upsell.example.com", api_token=TOKEN))
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

TYPES: dict[str, tuple[type, ...]] = {"bool": (bool,), "str": (str,), "int": (int,), "float": (float, int)}


class Entry:
    def __init__(self, flags: dict[str, dict[str, Any]], etag: str) -> None:
        self.flags, self.etag, self.at = flags, etag, time.monotonic()
        self.current = True  # False once changes may have been missed (the stream was away): asked again


class UpsellProvider(AbstractProvider):
    def __init__(self, base_url: str, api_token: str, *, timeout: float = 2.0, stale_after: float = 30.0) -> None:
        self.base_url, self.stale_after = base_url.rstrip("/"), stale_after
        self.http = httpx.Client(timeout=timeout, headers={"X-API-Key": api_token})
        self.cache: dict[str, Entry] = {}
        self.changes: dict[str, int] = {}  # per customer: changes seen on the stream (a fetch racing one is not kept)
        self.live = False  # the event stream is connected: cached entries are current
        self._stop = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="upsell-flags-stream", daemon=True)
        self._listener.start()

    def get_metadata(self) -> Metadata:
        return Metadata(name="dodo-upsell entitlements")

    def shutdown(self) -> None:
        self._stop.set()
        self.http.close()

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, "bool")

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, "str")

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, "int")

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, "float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return FlagResolutionDetails(default_value, error_code=ErrorCode.TYPE_MISMATCH, reason=Reason.ERROR)

    def _resolve(
        self, key: str, default: Any, context: EvaluationContext | None, kind: str
    ) -> FlagResolutionDetails[Any]:
        customer_id = context.targeting_key if context else None
        if not customer_id:
            return FlagResolutionDetails(default, error_code=ErrorCode.TARGETING_KEY_MISSING, reason=Reason.ERROR)
        entry, source = self._entry(customer_id)
        if entry is None:
            return FlagResolutionDetails(default, error_code=ErrorCode.GENERAL, reason=Reason.ERROR)
        item = entry.flags.get(key)
        if item is None and key.startswith("credits."):
            item = {"value": 0.0, "variant": "off", "metadata": {}}
        if item is None:
            return FlagResolutionDetails(default, error_code=ErrorCode.FLAG_NOT_FOUND, reason=Reason.ERROR)
        value = item.get("value", default)
        if not isinstance(value, TYPES[kind]) or (kind == "int" and isinstance(value, bool)):
            return FlagResolutionDetails(default, error_code=ErrorCode.TYPE_MISMATCH, reason=Reason.ERROR)
        meta = {k: v for k, v in (item.get("metadata") or {}).items() if isinstance(v, bool | int | float | str)}
        reason = source or Reason.__members__.get(str(item.get("reason")), Reason.UNKNOWN)
        return FlagResolutionDetails(value, variant=item.get("variant"), reason=reason, flag_metadata=meta)

    def _entry(self, customer_id: str) -> tuple[Entry | None, Reason | None]:
        """The customer's flags: cached (CACHED), fetched now (None: each flag's own reason), or
        the last known ones when the receiver cannot be asked (STALE)."""
        entry = self.cache.get(customer_id)
        young = entry is not None and time.monotonic() - entry.at < self.stale_after
        if entry is not None and entry.current and (self.live or young):
            return entry, Reason.CACHED
        seen = self.changes.get(customer_id, 0)
        try:
            fetched = self._fetch(customer_id, entry)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return entry, Reason.STALE
        if self.changes.get(customer_id, 0) == seen:  # no change came in while it was fetched
            self.cache[customer_id] = fetched
        return fetched, None

    def _fetch(self, customer_id: str, known: Entry | None) -> Entry:
        headers = {"If-None-Match": known.etag} if known else {}
        body = {"context": {"targetingKey": customer_id}}
        answer = self.http.post(f"{self.base_url}/ofrep/v1/evaluate/flags", json=body, headers=headers)
        if answer.status_code == 304 and known is not None:
            return Entry(known.flags, known.etag)
        answer.raise_for_status()
        items = answer.json()["flags"]
        return Entry({item["key"]: item for item in items if "key" in item}, answer.headers.get("etag", ""))

    def _listen(self) -> None:
        """Follow every customer's changes; reconnect after a second whenever the stream ends."""
        while not self._stop.is_set():
            try:
                with self.http.stream(
                    "GET", f"{self.base_url}/ofrep/v1/events", timeout=httpx.Timeout(5, read=60)
                ) as got:
                    self.live = got.status_code == 200
                    for entry in list(self.cache.values()):  # changes may have been missed while away:
                        entry.current = False  # each is asked again when next used, kept if that fails
                    for line in got.iter_lines():
                        if line.startswith("data: "):
                            changed = str(json.loads(line[6:]).get("customer_id", ""))
                            self.changes[changed] = self.changes.get(changed, 0) + 1
                            self.cache.pop(changed, None)
            except (httpx.HTTPError, ValueError, RuntimeError):
                pass
            self.live = False
            self._stop.wait(1.0)
