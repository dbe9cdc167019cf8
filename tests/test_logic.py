"""Pure logic, in-process: durations, access summaries, grant merging, matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.access.config import AccessConfig, describe_change, summarize
from worker.access.grants import Change, Update, merge
from worker.access.state import AccessState
from worker.folder.yamlsource import parse_duration
from worker.rules.match import Facts, Index, evaluate, mismatches
from worker.rules.model import Rule

CONFIG = AccessConfig.model_validate(
    {
        "tiers": ["basic", "pro"],
        "products": {
            "p_basic": {"tier": "basic", "features": ["r"]},
            "p_pro": {"tier": "pro", "features": ["r", "api"]},
            "p_addon": {"features": ["s"]},
        },
    }
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("3d", 259200), (" 1 h ", 3600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0s", "1w", "h", "-1h", "1.5h", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_summary_is_highest_tier_and_feature_union() -> None:
    grants = [CONFIG.grant("a", "p_basic"), CONFIG.grant("b", "p_addon"), CONFIG.grant("c", "p_pro")]
    assert summarize(CONFIG, [g for g in grants if g]) == ("pro", ["api", "r", "s"])
    assert summarize(CONFIG, []) == (None, [])
    assert CONFIG.grant("x", "p_unknown") is None


def test_describe_change() -> None:
    before = [CONFIG.grant("a", "p_basic")]
    after = [CONFIG.grant("a", "p_pro")]
    change = describe_change(CONFIG, [g for g in before if g], [g for g in after if g], "plan_changed")
    assert change == {
        "features_added": ["api"],
        "features_removed": [],
        "tier_from": "basic",
        "tier_to": "pro",
        "limits_changed": {},
        "credits_changed": {},
        "reason": "plan_changed",
    }


def update(at: datetime, product: str | None, key: str = "sub_1") -> Update:
    change = Change(key, "grant", key, product) if product else Change(key, "revoke")
    return Update("msg", "cus", at, "access.changed", "test", [change])


def test_merge_replaces_a_grant_and_ignores_older_events() -> None:
    state = AccessState()
    assert merge_changed(state, update(T0, "p_basic"))
    assert merge_changed(state, update(T0 + timedelta(seconds=5), "p_pro"))
    assert not merge_changed(state, update(T0 + timedelta(seconds=1), "p_basic"))  # older: no change
    assert state.grants["sub_1"].product_id == "p_pro"
    assert not merge_changed(state, update(T0 + timedelta(seconds=6), "p_pro"))  # same grant again: no change
    assert merge_changed(state, update(T0 + timedelta(seconds=7), None))  # removal
    assert state.grants == {}


def merge_changed(state: AccessState, change: Update) -> bool:
    before = state.model_copy(deep=True)
    merge(CONFIG, state, change, T0.timestamp())
    return before.grants != state.grants


def rule(**fields: object) -> Rule:
    return Rule.model_validate(
        {"id": "r", "on": "payment.succeeded", "offer": {"type": "one_click", "product": "p_pro"}} | fields
    )


def test_matching_has_and_lacks_use_tier_rank() -> None:
    facts = Facts("payment.succeeded", "cus", ("p_basic",), "USD", 1500)
    assert mismatches(rule(when={"lacks": ["pro"]}), facts, CONFIG, "basic", ["r"]) == []
    assert mismatches(rule(when={"lacks": ["basic"]}), facts, CONFIG, "pro", ["r"]) != []  # pro is above basic
    assert mismatches(rule(when={"has": ["api"]}), facts, CONFIG, "pro", ["api"]) == []
    assert mismatches(rule(when={"min_amount": 2000}), facts, CONFIG, None, []) != []


def test_index_orders_by_priority_and_stop_ends_evaluation() -> None:
    rules = [
        rule(id="low", priority=1),
        rule(id="high", priority=9, stop=True),
        rule(id="other", when={"product": ["p_addon"]}),
    ]
    facts = Facts("payment.succeeded", "cus", ("p_basic",))
    candidates = Index(rules).candidates(facts)
    assert [r.id for r in candidates] == ["high", "low"]
    assert [v.rule.id for v in evaluate(candidates, facts, CONFIG, None, [])] == ["high"]


def test_display_cache_is_bounded_and_expires() -> None:
    from worker.products import TtlCache

    cache = TtlCache(seconds=60, size=3)
    loads = []
    for key in "abcd":
        cache.get(key, lambda key=key: loads.append(key) or key.upper())
    assert cache.get("d", lambda: "reloaded") == "D" and len(cache._values) == 3
    assert cache.get("a", lambda: "again") == "again", "the oldest went first"
    expired = TtlCache(seconds=0)
    expired.get("k", lambda: 1)
    assert expired.get("k", lambda: 2) == 2


def test_dev_says_first_which_dodo_it_charges_through() -> None:
    from worker.cli.dev import charges_via

    assert charges_via("http://127.0.0.1:8787", 8787).startswith("the local Dodo emulator")
    assert "real charges" in charges_via("https://live.dodopayments.com", 8787)
