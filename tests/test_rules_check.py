"""`dodo-upsell rules check` / `explain`: every operator mistake named with file:line, nothing touched."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT
from worker import book
from worker.folder import yamlsource
from worker.rules import match as engine
from worker.rules import model as rules
from worker.rules.model import Rule

GOOD_RULE = """rules:
  - id: r1
    on: payment.succeeded
    offer: {type: one_click, product: pdt_ADDON0priority7Kq}
"""


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", "rules", "check", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://127.0.0.1:1"},
    )


def test_shipped_rules_pass() -> None:
    done = check(ROOT / "rules")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:") and "10 rules" in done.stdout


def test_committed_json_schema_is_current() -> None:
    assert json.loads((ROOT / "rules" / "rules.schema.json").read_text()) == rules.json_schema()
    assert "$schema=./rules.schema.json" in (ROOT / "rules" / "upsell.yaml").read_text()


MISTAKES = {
    "bad YAML": ("rules:\n  - id: r1\n    on: [payment.succeeded\n", 4, "while parsing a flow sequence at line 3"),
    "tab indent": ("rules:\n  - id: r1\n\ton: x\n", 3, "invalid YAML"),
    "unknown top-level key": ("rule:\n  - id: r1\n", 1, "unknown key 'rule'"),
    "unknown rule key": (GOOD_RULE + "    priorty: 3\n", 5, "rule 'r1': unknown key 'priorty'"),
    "unknown when key": (GOOD_RULE + "    when: {prodcut: [x]}\n", 5, "rule 'r1': unknown key 'when.prodcut'"),
    "duplicate id": (
        GOOD_RULE
        + "  - id: r1\n    on: payment.failed\n    offer: {type: one_click, product: pdt_ADDON0priority7Kq}\n",
        5,
        "duplicate id",
    ),
    "bad duration": (GOOD_RULE + "    expires_in: 2 weeks\n", 5, "bad duration '2 weeks'"),
    "zero duration": (GOOD_RULE + "    delay: 0s\n", 5, "bad duration"),
    "unknown offer product": (GOOD_RULE.replace("pdt_ADDON0priority7Kq", "pdt_nope"), 4, "unknown product 'pdt_nope'"),
    "unknown when product": (GOOD_RULE + "    when:\n      product: [pdt_typo]\n", 6, "unknown product 'pdt_typo'"),
    "unknown trigger": (
        GOOD_RULE.replace("payment.succeeded", "payment.refunded"),
        3,
        "rule 'r1': on: Input should be",
    ),
    "dangling offer_rule": (
        GOOD_RULE.replace("payment.succeeded", "offer.declined") + "    when: {offer_rule: ghost}\n",
        5,
        "offer_rule 'ghost' names no rule",
    ),
    "bad proration": (
        GOOD_RULE.replace("one_click", "upgrade").replace("}", ", proration: half_now}"),
        4,
        "rule 'r1': offer.proration",
    ),
    "offer and notify": (
        GOOD_RULE.replace("payment.succeeded", "offer.created") + "    notify: offer.reminder\n",
        2,
        "exactly one of `offer` or `notify`",
    ),
    "neither offer nor notify": (
        "rules:\n  - id: r1\n    on: payment.succeeded\n",
        2,
        "exactly one of `offer` or `notify`",
    ),
    "notify on a webhook": (
        "rules:\n  - id: r1\n    on: payment.failed\n    notify: offer.reminder\n",
        2,
        "`on` must be one of",
    ),
    "duplicate YAML key": (GOOD_RULE + "    priority: 1\n    priority: 2\n", 6, "duplicate key 'priority'"),
    "unknown tier or feature": (
        GOOD_RULE + "    when: {lacks: [platinum]}\n",
        5,
        "'platinum' is neither a tier nor a feature",
    ),
    "zero variant weight": (GOOD_RULE + "    variants: [{weight: 0}]\n", 5, "rule 'r1': variants.0.weight"),
    "bad offer type": (GOOD_RULE.replace("one_click", "two_click"), 4, "rule 'r1': offer.type"),
    "quantity zero": (GOOD_RULE.replace("}", ", quantity: 0}"), 4, "rule 'r1': offer.quantity"),
    "rule that triggers itself": (
        GOOD_RULE.replace("payment.succeeded", "offer.created") + "    delay: 1d\n",
        3,
        "chain back to it: r1 -> r1",
    ),
    "rules that trigger each other": (
        GOOD_RULE.replace("payment.succeeded", "offer.declined")
        + "    when: {offer_rule: r2}\n"
        + "  - id: r2\n    on: offer.failed\n    when: {offer_rule: [r1]}\n"
        + "    offer: {type: cross_sell, product: pdt_ADDON0priority7Kq}\n",
        3,
        "r1 -> r2 -> r1",
    ),
    "control character in an id": (GOOD_RULE.replace("id: r1", 'id: "r\\x1f1"'), 2, "'r\\x1f1' is not a name"),
    "slash in a variant name": (
        GOOD_RULE + "    variants: [{name: a/b, weight: 1}]\n",
        5,
        "variants.0.name: 'a/b' is not a name",
    ),
    "space in a feature name": (GOOD_RULE + "    when: {has: [pro plan]}\n", 5, "'pro plan' is not a name"),
    "unknown variant override": (
        GOOD_RULE + "    variants: [{weight: 1, offer: {colour: red}}]\n",
        5,
        "variant override is invalid",
    ),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_each_mistake_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, message = MISTAKES[case]
    (tmp_path / "access.yaml").write_text((ROOT / "rules" / "access.yaml").read_text())
    (tmp_path / "mine.yaml").write_text(text)
    with pytest.raises(yamlsource.ProblemsFound) as found:
        book.load_dir(tmp_path)
    reported = str(found.value)
    assert f"{tmp_path / 'mine.yaml'}:{line}: " in reported and message in reported, reported


def test_every_error_of_every_file_in_one_run(tmp_path: Path) -> None:
    """Not in rounds: access.yaml's own errors, each broken rule, and the cross-file checks of the
    rules that did parse, all from one `rules check`, each naming its rule by id."""
    (tmp_path / "access.yaml").write_text(
        "tiers: [basic]\nproducts:\n  p1: {tier: gold}\n  p2: {features: [x], colour: red}\n"
    )
    (tmp_path / "a.yaml").write_text(GOOD_RULE.replace("one_click", "bogus"))
    (tmp_path / "b.yaml").write_text(
        "rules:\n  - id: x\n    on: nope\n    offer: {type: one_click, product: p1}\n"
        "  - id: y\n    on: payment.failed\n    offer: {type: one_click, product: p1}\n    priortiy: 2\n"
        "  - id: r1\n    on: offer.declined\n    when: {offer_rule: [ghost]}\n    offer: {type: one_click, product: p1}\n"
    )
    done = check(tmp_path)
    assert done.returncode == 1
    expected = [
        f"{tmp_path / 'access.yaml'}:4: unknown key 'products.p2.colour'",
        f"{tmp_path / 'a.yaml'}:4: rule 'r1': offer.type",
        f"{tmp_path / 'b.yaml'}:3: rule 'x': on: Input should be",
        f"{tmp_path / 'b.yaml'}:8: rule 'y': unknown key 'priortiy'",
        f"{tmp_path / 'b.yaml'}:11: rule 'r1': offer_rule 'ghost' names no rule",
    ]
    for line in expected:
        assert line in done.stderr, done.stderr
    assert "rules.0" not in done.stderr and "5 error(s)" in done.stderr, done.stderr

    (tmp_path / "access.yaml").write_text("tiers: [basic]\nproducts:\n  pdt_ADDON0priority7Kq: {tier: gold}\n")
    (tmp_path / "b.yaml").unlink()
    done = check(tmp_path)
    assert f"{tmp_path / 'access.yaml'}:3: product 'pdt_ADDON0priority7Kq': tier 'gold'" in done.stderr
    assert f"{tmp_path / 'a.yaml'}:4: rule 'r1': offer.type" in done.stderr


def test_missing_access_yaml(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(GOOD_RULE)
    done = check(tmp_path)
    assert done.returncode == 1 and "access.yaml:1: missing" in done.stderr


def test_explain_prints_verdicts_without_redis(tmp_path: Path) -> None:
    access = tmp_path / "access.json"
    access.write_text(json.dumps({"tier": "basic", "features": ["priority_support"]}))
    argv = [
        sys.executable,
        "-m",
        "worker",
        "rules",
        "explain",
        str(FIXTURES / "payment.succeeded.json"),
        "--rules",
        str(ROOT / "rules"),
    ]
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://127.0.0.1:1"}
    fresh = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout)
    (verdict,) = [r for r in fresh["rules"] if r["rule_id"] == "course-addon"]
    assert verdict["matched"] and verdict["action"]["offer"]["product_id"] == "pdt_ADDON0priority7Kq"
    has_it = json.loads(
        subprocess.run(
            argv + ["--customer-access", str(access)], capture_output=True, text=True, check=True, env=env
        ).stdout
    )
    (verdict,) = [r for r in has_it["rules"] if r["rule_id"] == "course-addon"]
    assert not verdict["matched"] and verdict["reasons"] == ["lacks: customer has priority_support"]


def test_variants_are_stable_and_follow_weights() -> None:
    rule = Rule.model_validate(
        {
            "id": "exp",
            "on": "payment.succeeded",
            "offer": {"type": "one_click", "product": "p"},
            "variants": [{"name": "a", "weight": 70}, {"name": "b", "weight": 20}, {"name": "c", "weight": 10}],
        }
    )
    picks = Counter(engine.variant_name(rule, engine.variant_for(rule, f"cus_{n}")) for n in range(10_000))
    for name, weight in (("a", 0.7), ("b", 0.2), ("c", 0.1)):
        assert abs(picks[name] / 10_000 - weight) < 0.02, picks
    assert all(engine.variant_for(rule, "cus_42") is engine.variant_for(rule, "cus_42") for _ in range(10))
    other = Rule.model_validate({**rule.model_dump(mode="json"), "id": "exp2"})
    assert [engine.variant_name(other, engine.variant_for(other, f"cus_{n}")) for n in range(50)] != [
        engine.variant_name(rule, engine.variant_for(rule, f"cus_{n}")) for n in range(50)
    ]


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


def hostile(tmp_path: Path, kind: str) -> Path:
    (tmp_path / "access.yaml").write_text((ROOT / "rules" / "access.yaml").read_text())
    target = tmp_path / "hostile.yaml"
    if kind == "alias bomb":
        target.write_text(BOMB)
    elif kind == "50 MB":
        with target.open("wb") as out:
            out.truncate(50 * 1024 * 1024)
    elif kind == "symlink out":
        outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
        outside.write_text(GOOD_RULE)
        target.symlink_to(outside)
    elif kind == "fifo":
        os.mkfifo(target)
    return target


@pytest.mark.parametrize("kind", ["alias bomb", "50 MB", "symlink out", "fifo"])
def test_hostile_rule_files_are_refused_quickly(tmp_path: Path, kind: str) -> None:
    target = hostile(tmp_path, kind)
    started = time.monotonic()
    with pytest.raises(yamlsource.ProblemsFound):
        book.load_dir(tmp_path)
    assert time.monotonic() - started < 5  # a bound on a hang (the bomb took minutes), not a speed target
    done = check(tmp_path)
    assert done.returncode == 1 and f"{target}:1: " in done.stderr, done.stderr


def test_cycles_are_found_in_any_wiring_and_only_there() -> None:
    """Against brute force on random small rule sets: a rule is refused exactly when it is on a cycle."""
    import random

    from worker.rules import graph

    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 7)
        names = [f"r{i}" for i in range(n)]
        rules = []
        for name in names:
            on = rng.choice(["offer.created", "offer.declined", "payment.succeeded"])
            when = {"offer_rule": rng.sample(names, min(n, rng.randint(1, 2)))} if rng.random() < 0.8 else {}
            body = {"offer": {"type": "cross_sell", "product": "p"}} if rng.random() < 0.85 else {}
            if not body:
                body, on = {"notify": "offer.reminder"}, "offer.created"
            if on == "payment.succeeded":
                when = {}
            rules.append(Rule.model_validate({"id": name, "on": on, "when": when, **body}))
        reach = {a.id: {b.id for b in rules if graph.follows(a, b)} for a in rules}
        for _ in range(n):
            for a in reach:
                reach[a] |= {c for b in list(reach[a]) for c in reach[b]}
        on_cycle = {a for a in reach if a in reach[a]}
        chains = graph.cycles(rules)
        named = {member for chain in chains for member in chain}
        assert named <= on_cycle and {chain[0] for chain in chains} <= on_cycle
        assert bool(chains) == bool(on_cycle)
        order = [r.id for r in rules]
        firsts = [order.index(chain[0]) for chain in chains]
        assert firsts == sorted(firsts), "in file order"
        for chain in chains:
            assert order.index(chain[0]) == min(order.index(member) for member in chain), "from its first rule"
            assert chain[0] == chain[-1] and all(
                graph.follows(next(r for r in rules if r.id == a), next(r for r in rules if r.id == b))
                for a, b in itertools.pairwise(chain)
            )


def test_one_typo_is_one_error_not_a_cascade(tmp_path: Path) -> None:
    """A rule broken by a typo is not loaded, yet the rules that name it are not blamed for it."""
    (tmp_path / "access.yaml").write_text((ROOT / "rules" / "access.yaml").read_text())
    shipped = (ROOT / "rules" / "upsell.yaml").read_text()
    (tmp_path / "upsell.yaml").write_text(shipped.replace("type: one_click", "type: one_clik", 1))
    done = check(tmp_path)
    assert done.returncode == 1 and "1 error(s)" in done.stderr, done.stderr
    assert "names no rule" not in done.stderr
