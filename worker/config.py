"""Settings from the environment; a bad one stops start-up with one line naming it."""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from worker import redisconn

DELIVERY_BACKOFF = "5s,30s,2m,10m,30m,1h,3h,6h,12h,24h"  # waits after each failed attempt, then dead


class ConfigError(Exception):
    """A setting an operator must fix; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    redis_url: str
    webhook_secrets: tuple[str, ...]
    api_tokens: tuple[str, ...]
    rules_dir: Path
    events_stream: str
    events_retention_seconds: int
    inbound_retention_seconds: int  # 0: no inbound archive (and no backtest)
    delivery_backoff: tuple[int, ...]
    dodo_api_key: str | None
    dodo_environment: str
    dodo_base_url: str | None
    console_tokens: tuple[str, ...] = ()  # UPSELL_CONSOLE_TOKENS: /console is served only when set
    worker_metrics: bool = True  # UPSELL_WORKER_METRICS=off: no exporter, metrics in-process
    log_pretty: bool = False  # UPSELL_LOG_PRETTY=1: coloured lines for a terminal, not JSON
    wake_on_enqueue: bool = True  # UPSELL_WAKE_ON_ENQUEUE=off: Dramatiq's sleep (bench.latency's baseline)
    ack_replicas: int = 0  # UPSELL_ACK_REPLICAS: replicas that must have a write before the caller's answer
    ack_timeout_ms: int = 500  # UPSELL_ACK_TIMEOUT: how long to wait for them, then 503
    metrics_tokens: tuple[str, ...] = ()  # UPSELL_METRICS_TOKEN: the receiver's /metrics then needs one (bearer)
    request_timeout_seconds: float = 10.0  # UPSELL_REQUEST_TIMEOUT: a client's time to send a whole request
    client_origins: tuple[str, ...] = ()  # UPSELL_CLIENT_ORIGINS: browser origins allowed with client tokens
    event_streams_max: int = 1000  # UPSELL_EVENT_STREAMS_MAX: open OFREP event streams per receiver process
    console_timezone: str = "UTC"  # UPSELL_CONSOLE_TIMEZONE: the zone the console shows times in
    delivery_log_retention_seconds: int = 30 * 86400  # UPSELL_DELIVERY_LOG_RETENTION: the attempt log's reach
    delivery_disable_after_seconds: int = 5 * 86400  # UPSELL_DELIVERY_DISABLE_AFTER: failing this long: disabled
    delivery_failing_span_seconds: int = 86400  # UPSELL_DELIVERY_FAILING_SPAN: failures must span this to count


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def check_webhook_secret(secret: str, variable: str = "DODO_PAYMENTS_WEBHOOK_KEY") -> None:
    """Reject a secret the verifier would accept but that is too weak or mistyped."""
    if not secret.startswith("whsec_"):
        where = " (copy it from the Dodo dashboard)" if variable.startswith("DODO_") else ""
        raise ConfigError(f"{variable}: each secret must start with 'whsec_'{where}")
    try:
        raw = base64.b64decode(secret[len("whsec_") :] + "==", validate=False)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{variable}: a secret is not valid base64 after 'whsec_'") from None
    if len(raw) < 24:
        raise ConfigError(f"{variable}: a secret decodes to {len(raw)} bytes, at least 24 are needed")


def _redis_url(env: dict[str, str], required: bool) -> str:
    url = env.get("REDIS_URL", "").strip()
    if not url:
        if required:
            raise ConfigError(
                "REDIS_URL is not set: give the Redis URL, e.g. redis://localhost:6379/0 "
                "(only `dodo-upsell dev` starts its own)"
            )
        return ""
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme not in ("redis", "rediss", "unix", redisconn.SENTINEL_SCHEME):
        raise ConfigError(
            f"REDIS_URL must start with redis://, rediss://, unix:// or redis+sentinel:// (got scheme {scheme!r})"
        )
    if scheme == redisconn.SENTINEL_SCHEME:
        try:
            redisconn.parse_sentinel(url)
        except ValueError as exc:
            raise ConfigError(
                f"REDIS_URL: {exc} (redis+sentinel://[:password@]host:port[,host:port...]/<service>[/<db>])"
            ) from None
    return url


def _ack(env: dict[str, str]) -> tuple[int, int]:
    """UPSELL_ACK_REPLICAS (0..): replicas a write answered to a caller must reach first;
    UPSELL_ACK_TIMEOUT (`500ms`, `2s`): the bound on that wait."""
    replicas_text = env.get("UPSELL_ACK_REPLICAS", "").strip() or "0"
    if not replicas_text.isdigit() or int(replicas_text) > 16:
        raise ConfigError(f"UPSELL_ACK_REPLICAS must be a whole number from 0 to 16 (got {replicas_text[:20]!r})")
    timeout_text = env.get("UPSELL_ACK_TIMEOUT", "").strip() or "500ms"
    match = re.fullmatch(r"([0-9]{1,6})(ms|s)", timeout_text)
    timeout_ms = (int(match.group(1)) * (1000 if match.group(2) == "s" else 1)) if match else 0
    if not 1 <= timeout_ms <= 10_000:
        raise ConfigError(
            f"UPSELL_ACK_TIMEOUT must be a duration such as 500ms or 2s, at most 10s (got {timeout_text[:20]!r})"
        )
    return int(replicas_text), timeout_ms


def _dodo_target(env: dict[str, str]) -> tuple[str, str | None]:
    """Which Dodo the API key is for. Never guessed: the SDK would default to live mode and this
    project once defaulted to test mode, so a key without DODO_PAYMENTS_ENVIRONMENT (or a
    DODO_PAYMENTS_BASE_URL, as `dev` and the tests set for the emulator) stops start-up."""
    environment = env.get("DODO_PAYMENTS_ENVIRONMENT", "").strip()
    if environment and environment not in ("test_mode", "live_mode"):
        raise ConfigError(f"DODO_PAYMENTS_ENVIRONMENT must be test_mode or live_mode (got {environment[:20]!r})")
    base_url = env.get("DODO_PAYMENTS_BASE_URL", "").strip() or None
    if base_url and urlparse(base_url).scheme not in ("http", "https"):
        raise ConfigError("DODO_PAYMENTS_BASE_URL must be an http(s) URL")
    if env.get("DODO_PAYMENTS_API_KEY", "").strip() and not environment and not base_url:
        raise ConfigError(
            "DODO_PAYMENTS_API_KEY is set but DODO_PAYMENTS_ENVIRONMENT is not: set it to live_mode "
            "(real charges, with a live key) or test_mode (Dodo's test environment, with a test key)"
        )
    return environment or "test_mode", base_url


def request_timeout(env: dict[str, str]) -> float:
    """UPSELL_REQUEST_TIMEOUT: `10`, `1.5`, `10s` or `500ms`, from 0.1 s to 300 s."""
    text = env.get("UPSELL_REQUEST_TIMEOUT", "").strip() or "10"
    found = re.fullmatch(r"([0-9]{1,6}(?:\.[0-9]{1,3})?)(ms|s)?", text)
    seconds = float(found[1]) / (1000 if found[2] == "ms" else 1) if found else 0.0
    if not 0.1 <= seconds <= 300:
        raise ConfigError(
            f"UPSELL_REQUEST_TIMEOUT must be a duration such as 10s or 500ms, 0.1s to 300s (got {text[:20]!r})"
        )
    return seconds


def check_offer_links(env: dict[str, str]) -> None:
    """UPSELL_PUBLIC_URL and UPSELL_OFFER_LINK_KEYS (worker/offers/links.py), checked at start."""
    public = env.get("UPSELL_PUBLIC_URL", "").strip()
    if public and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", public):
        raise ConfigError(
            f"UPSELL_PUBLIC_URL must be the http(s) URL customers reach the receiver at (got {public[:60]!r})"
        )
    if any(len(k.strip()) < 32 for k in env.get("UPSELL_OFFER_LINK_KEYS", "").split(",") if k.strip()):
        raise ConfigError("UPSELL_OFFER_LINK_KEYS: each key at least 32 characters (e.g. `openssl rand -hex 32`)")


def _count(env: dict[str, str], name: str, default: int, most: int) -> int:
    text = env.get(name, "").strip() or str(default)
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise ConfigError(f"{name} must be a whole number from 1 to {most} (got {text[:20]!r})")
    return int(text)


def client_origins(env: dict[str, str]) -> tuple[str, ...]:
    """UPSELL_CLIENT_ORIGINS: `https://app.example.com,http://localhost:3000`, each an origin exactly
    as a browser sends it (scheme, host, optional port; no path)."""
    found = _split(env.get("UPSELL_CLIENT_ORIGINS", ""))
    for origin in found:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise ConfigError(
                f"UPSELL_CLIENT_ORIGINS: {origin[:60]!r} is not an origin such as https://app.example.com"
            )
    return found


def dodo_mode(settings: Settings) -> str:
    """What start-up lines and the console say about where charges go."""
    if settings.dodo_base_url:
        return f"base URL {settings.dodo_base_url}"
    return settings.dodo_environment


def load(env: dict[str, str] | None = None, *, need_redis: bool = True, need_webhook_key: bool = True) -> Settings:
    """Read and check every setting at once, so start-up fails before serving anything."""
    env = dict(os.environ if env is None else env)
    secrets = _split(env.get("DODO_PAYMENTS_WEBHOOK_KEY", ""))
    if need_webhook_key and not secrets:
        raise ConfigError(
            "DODO_PAYMENTS_WEBHOOK_KEY is not set: give the webhook secret (whsec_...) from the Dodo dashboard"
        )
    for secret in secrets:
        check_webhook_secret(secret)
    environment, base_url = _dodo_target(env)
    stream = env.get("UPSELL_EVENTS_STREAM", "upsell:events").strip()
    if not stream:
        raise ConfigError("UPSELL_EVENTS_STREAM is empty: unset it for the default upsell:events")
    from worker.folder.yamlsource import parse_duration, parse_span

    try:
        retention = parse_duration(env.get("UPSELL_EVENTS_RETENTION", "").strip() or "30d")
    except ValueError as exc:
        raise ConfigError(f"UPSELL_EVENTS_RETENTION: {exc}") from None
    try:
        inbound_retention = parse_span(env.get("UPSELL_INBOUND_RETENTION", "").strip() or "30d")
    except ValueError as exc:
        raise ConfigError(f"UPSELL_INBOUND_RETENTION: {exc} (or 0 to keep no archive of inbound webhooks)") from None
    if env.get("UPSELL_RETURN_URL", "").strip() and urlparse(env["UPSELL_RETURN_URL"].strip()).scheme not in (
        "http",
        "https",
    ):
        raise ConfigError("UPSELL_RETURN_URL must be an http(s) URL (where a checkout sends the customer back)")
    ack_replicas, ack_timeout_ms = _ack(env)
    check_offer_links(env)
    return Settings(
        redis_url=_redis_url(env, need_redis),
        webhook_secrets=secrets,
        api_tokens=_split(env.get("UPSELL_API_TOKENS", "")),
        rules_dir=Path(env.get("UPSELL_RULES_DIR", "").strip() or "rules"),
        events_stream=stream,
        events_retention_seconds=retention,
        inbound_retention_seconds=inbound_retention,
        delivery_backoff=_backoff(env),
        dodo_api_key=env.get("DODO_PAYMENTS_API_KEY", "").strip() or None,
        dodo_environment=environment,
        dodo_base_url=base_url,
        console_tokens=_split(env.get("UPSELL_CONSOLE_TOKENS", "")),
        worker_metrics=env.get("UPSELL_WORKER_METRICS", "on").strip() != "off",
        log_pretty=env.get("UPSELL_LOG_PRETTY", "").strip() == "1",
        wake_on_enqueue=env.get("UPSELL_WAKE_ON_ENQUEUE", "on").strip() != "off",
        ack_replicas=ack_replicas,
        ack_timeout_ms=ack_timeout_ms,
        metrics_tokens=_split(env.get("UPSELL_METRICS_TOKEN", "")),
        request_timeout_seconds=request_timeout(env),
        client_origins=client_origins(env),
        event_streams_max=_count(env, "UPSELL_EVENT_STREAMS_MAX", 1000, 100_000),
        console_timezone=_zone(env),
        delivery_log_retention_seconds=_duration(env, "UPSELL_DELIVERY_LOG_RETENTION", "30d"),
        delivery_disable_after_seconds=_duration(env, "UPSELL_DELIVERY_DISABLE_AFTER", "5d"),
        delivery_failing_span_seconds=_duration(env, "UPSELL_DELIVERY_FAILING_SPAN", "24h"),
    )


def _zone(env: dict[str, str]) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = env.get("UPSELL_CONSOLE_TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"UPSELL_CONSOLE_TIMEZONE: no time zone {name[:40]!r} (an IANA name such as Europe/Rome)"
        ) from None
    return name


def _backoff(env: dict[str, str]) -> tuple[int, ...]:
    from worker.folder.yamlsource import parse_duration

    backoff_text = env.get("UPSELL_DELIVERY_BACKOFF", "").strip() or DELIVERY_BACKOFF
    try:
        return tuple(parse_duration(part) for part in backoff_text.split(","))
    except ValueError as exc:
        raise ConfigError(f"UPSELL_DELIVERY_BACKOFF: {exc} (a comma-separated list, e.g. {DELIVERY_BACKOFF})") from None


def _duration(env: dict[str, str], name: str, default: str) -> int:
    from worker.folder.yamlsource import parse_duration

    try:
        return parse_duration(env.get(name, "").strip() or default)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc} (a duration such as {default})") from None


def version() -> str:
    try:
        return metadata.version("dodo-upsell")
    except metadata.PackageNotFoundError:
        return "unknown"


def without_password(url: str) -> str:
    """A Redis URL fit for logs and messages."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}" if "@" in rest else url


def warn_if_no_dodo_key(settings: Settings) -> None:
    """Charges would fail much later with an auth error; say so at start instead."""
    if not settings.dodo_api_key:
        import structlog

        structlog.get_logger("config").warning(
            "dodo_api_key_missing",
            hint="set DODO_PAYMENTS_API_KEY: one-click charges, plan changes and previews fail without it",
        )


def return_url() -> str | None:
    """UPSELL_RETURN_URL: where a checkout returns when the rule names no `return_url` (checked at start)."""
    return os.environ.get("UPSELL_RETURN_URL", "").strip() or None
