"""`endpoints.yaml`: the entitlement systems that get our events as signed webhooks.

A file error (bad YAML, unknown key, duplicate id) rejects the whole rule folder like any rule
error. A missing or malformed secret only leaves that endpoint out, with a warning naming the file,
line and variable: the other endpoints and every rule keep working.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from worker import config
from worker.folder import yamlsource
from worker.folder.yamlsource import Name

FILE = "endpoints.yaml"


class EndpointEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Name
    url: str
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    previous_secret_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )  # a rotation's old secret
    previous_secret_until: datetime | None = None  # when it stops signing: at most 7 days on from the edit
    rate: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,5}/(s|m)$")  # N/s or N/m, across processes
    allow_private: bool = False  # may resolve to a private, loopback or link-local address
    allow_insecure: bool = False  # may be plain http://

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return url


class EndpointsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoints: list[EndpointEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    secret: str
    events: tuple[str, ...]
    fingerprint: str  # of the file entry: a 410 disables the endpoint until this changes
    previous: tuple[str, float] | None = None  # a rotation: the old secret, and until when it signs too
    rate_per_second: float | None = None  # `rate:`: attempts a second at most, over all worker processes
    allow_private: bool = False  # connect to non-global addresses too (addresses.py)

    def previous_secrets(self, at: datetime | None = None) -> list[str]:
        """The old secret while its window lasts (every delivery then carries both signatures)."""
        now = (at or datetime.now(UTC)).timestamp()
        return [self.previous[0]] if self.previous is not None and now < self.previous[1] else []

    def wants(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.events)


ROTATION_MOST_SECONDS = 7 * 86400
ALLOW_PRIVATE = "UPSELL_DELIVERY_ALLOW_PRIVATE"  # =1: private addresses and http:// everywhere (dev, tests)


def per_second(rate: str | None) -> float | None:
    if rate is None:
        return None
    count, _, unit = rate.partition("/")
    return int(count) / (1 if unit == "s" else 60)


def _previous(entry: EndpointEntry, where: str) -> tuple[tuple[str, float] | None, list[str]]:
    """A rotation's old secret and its end, or why it is left out (a warning each)."""
    if entry.previous_secret_env is None:
        return None, []
    until = entry.previous_secret_until
    if until is None or until.tzinfo is None:
        return None, [
            f"{where}: previous_secret_until (an ISO time with its zone) is needed beside previous_secret_env"
        ]
    now = time.time()
    if until.timestamp() <= now:
        return None, [
            f"{where}: the rotation window ended at {until.isoformat()}: "
            "remove previous_secret_env and previous_secret_until"
        ]
    if until.timestamp() - now > ROTATION_MOST_SECONDS:
        return None, [f"{where}: previous_secret_until is more than 7 days away: a rotation lasts at most 7 days"]
    old = os.environ.get(entry.previous_secret_env, "").strip()
    try:
        config.check_webhook_secret(old, entry.previous_secret_env)
    except config.ConfigError as exc:
        return None, [f"{where}: {exc}: deliveries are signed with the new secret only"]
    return (old, until.timestamp()), []


def load(directory: Path) -> tuple[dict[str, Endpoint], list[str]]:
    """The usable endpoints and a warning per endpoint left out; ProblemsFound for file errors."""
    path = directory / FILE
    if not path.exists():
        return {}, []
    doc = yamlsource.read(path, directory)
    parsed = yamlsource.validate(doc, EndpointsFile)
    endpoints: dict[str, Endpoint] = {}
    warnings: list[str] = []
    problems: list[yamlsource.Problem] = []
    for index, entry in enumerate(parsed.endpoints):
        where = f"{doc.path}:{doc.line_of(('endpoints', index, 'secret_env'))}: endpoint {entry.id!r}"
        if entry.id in endpoints:
            problems.append(doc.problem(("endpoints", index, "id"), f"endpoint {entry.id!r}: duplicate id"))
            continue
        secret = os.environ.get(entry.secret_env, "").strip()
        if not secret:
            warnings.append(f"{where}: {entry.secret_env} is not set: this endpoint gets nothing until it is")
            continue
        try:
            config.check_webhook_secret(secret, entry.secret_env)
        except config.ConfigError as exc:
            warnings.append(f"{where}: {exc}; this endpoint gets nothing until it is fixed")
            continue
        anywhere = os.environ.get(ALLOW_PRIVATE, "").strip() == "1"
        if urlparse(entry.url).scheme != "https" and not (entry.allow_insecure or anywhere):
            at = f"{doc.path}:{doc.line_of(('endpoints', index, 'url'))}: endpoint {entry.id!r}"
            warnings.append(f"{at}: the url is not https://: left out (allow_insecure: true to send in clear)")
            continue
        fingerprint = hashlib.sha256(entry.model_dump_json().encode()).hexdigest()[:16]
        previous, said = _previous(entry, where)
        warnings += said
        endpoints[entry.id] = Endpoint(
            entry.id,
            entry.url,
            secret,
            tuple(entry.events),
            fingerprint,
            previous,
            per_second(entry.rate),
            entry.allow_private or anywhere,
        )
    if problems:
        raise yamlsource.ProblemsFound(problems)
    return endpoints, warnings
