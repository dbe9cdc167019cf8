"""Settings an operator gets wrong are refused at start with one line naming the variable."""

from __future__ import annotations

import pytest

from worker import config, redisconn

KEY = "whsec_" + "ZG9kby11cHNlbGwtdGVzdC1zZWNyZXQtMzItYnl0ZXM="


def load(**env: str) -> config.Settings:
    return config.load({"DODO_PAYMENTS_WEBHOOK_KEY": KEY, **env})


def test_a_sentinel_url_is_parsed_and_a_bad_one_names_what_is_wrong() -> None:
    parts = redisconn.parse_sentinel("redis+sentinel://:s%40cret@h1:26379,h2:26380/mymaster/2")
    assert parts.sentinels == (("h1", 26379), ("h2", 26380))
    assert (parts.service, parts.db, parts.password) == ("mymaster", 2, "s@cret")
    assert load(REDIS_URL="redis+sentinel://h1:26379/mymaster").redis_url.startswith("redis+sentinel://")
    for bad, says in [
        ("redis+sentinel:///mymaster", "at least one Sentinel"),
        ("redis+sentinel://h1:26379", "name the Sentinel service"),
        ("redis+sentinel://h1/mymaster", "host:port"),
        ("redis+sentinel://h1:26379/mymaster/x", "must be a number"),
        ("sentinel://h1:26379/mymaster", "must start with redis://"),
    ]:
        with pytest.raises(config.ConfigError, match=f"^REDIS_URL.*{says}"):
            load(REDIS_URL=bad)


def test_ack_settings_default_to_one_machine_and_bad_ones_name_the_variable() -> None:
    settings = load(REDIS_URL="redis://localhost:6379/0")
    assert (settings.ack_replicas, settings.ack_timeout_ms) == (0, 500)
    settings = load(REDIS_URL="redis://x", UPSELL_ACK_REPLICAS="1", UPSELL_ACK_TIMEOUT="2s")
    assert (settings.ack_replicas, settings.ack_timeout_ms) == (1, 2000)
    for variable, value in [
        ("UPSELL_ACK_REPLICAS", "-1"),
        ("UPSELL_ACK_REPLICAS", "one"),
        ("UPSELL_ACK_TIMEOUT", "500"),
        ("UPSELL_ACK_TIMEOUT", "0ms"),
        ("UPSELL_ACK_TIMEOUT", "2m"),
    ]:
        with pytest.raises(config.ConfigError, match=f"^{variable}"):
            load(REDIS_URL="redis://x", **{variable: value})
