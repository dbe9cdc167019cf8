"""Mutation testing for the modules whose guards are pure logic: each mutant (a comparison turned
round, `and` for `or`, a `not` dropped, a number moved by one) is written over the module, the
tests that hold it run, and a mutant they do not kill is listed with its line. `python3 tasks.py
mutants` runs it; the scores are in docs/architecture.md.

In-process tests only, so a mutant costs seconds: the money path's modules are held by
tests/test_charge_steps.py (a real Redis and the emulator on a thread, through the real SDK), the
intake by tests/test_intake.py, access by the Hypothesis model. A target `module::function` mutates
that function alone (the actors' retry wrapper, whose module is mostly Dramatiq wiring)."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# module -> the tests (pytest node ids or -k filters) that hold it
TARGETS: dict[str, list[str]] = {
    "worker/rules/graph.py": [
        "tests/test_rules_check.py::test_cycles_are_found_in_any_wiring_and_only_there",
        "tests/test_rules_check.py::test_each_mistake_names_file_and_line",
    ],
    "worker/access/numbers.py": [
        "tests/test_promises.py::test_credit_balances_are_read_exactly_within_their_bounds",
        "tests/test_promises.py::test_the_newest_credit_entry_wins_and_a_name_alone_changes_only_the_name",
    ],
    "worker/webhooks/parse.py": [
        "tests/test_promises.py::test_a_parse_error_names_fields_never_their_values",
        "tests/test_promises.py::test_a_whole_number_past_63_bits_is_refused_at_the_boundary",
    ],
    "worker/logs.py": [
        "tests/test_hostile.py::test_every_log_line_is_bounded_whole_and_says_what_it_cut",
        "tests/test_promises.py::test_the_log_bounds_are_the_documented_ones",
    ],
    "worker/signing.py": [
        "tests/test_verifier.py",
        "tests/test_promises.py::test_a_signature_carries_the_time_it_is_given",
    ],
    "worker/offers/charge.py": ["tests/test_charge_steps.py"],
    "worker/offers/outcome.py": ["tests/test_charge_steps.py"],
    "worker/offers/reconcile.py": ["tests/test_charge_steps.py"],
    "worker/offers/pricing.py": ["tests/test_charge_steps.py"],
    "worker/discounts.py": ["tests/test_emulator_truth.py", "tests/test_charge_steps.py"],
    "worker/access/grants.py": ["tests/test_access_model.py"],
    "worker/queue/intake.py": ["tests/test_intake.py"],
    "worker/delivery/addresses.py": [
        "tests/test_endpoint_operations.py::test_the_connection_is_pinned_to_the_checked_address_and_keeps_the_name",
        "tests/test_endpoint_operations.py::test_a_non_global_address_is_refused_before_any_connection",
        "tests/test_endpoint_operations.py::test_a_refused_address_is_never_connected_to",
        "tests/test_endpoint_operations.py::test_error_classes_and_the_answer_read_no_further_than_4_kib",
    ],
    "worker/delivery/health.py": [
        "tests/test_endpoint_operations.py::test_five_days_of_failures_disable_then_enabling_delivers_in_order",
        "tests/test_endpoint_operations.py::test_failures_that_do_not_span_a_day_do_not_disable",
        "tests/test_endpoint_operations.py::test_operator_events_go_to_the_other_endpoints_only",
    ],
    "worker/delivery/attempts.py": [
        "tests/test_endpoint_operations.py::test_every_attempt_is_logged_with_its_answer_time_and_next_attempt",
        "tests/test_endpoint_operations.py::test_the_attempt_log_keeps_its_retention_and_its_bound",
    ],
    "worker/delivery/recovery.py": [
        "tests/test_endpoint_operations.py::test_recovery_after_an_outage_of_hours_queues_the_dead_again_in_order_once",
        "tests/test_endpoint_operations.py::test_resend_walks_the_stream_and_recover_counts_what_it_could_not_send",
    ],
    "worker/replay/rulestest.py": ["tests/test_rules_test.py"],
    "worker/actors.py::_riding_out_redis_blips": [
        "tests/test_promises.py::test_the_actors_ride_out_a_redis_blip_and_say_so",
    ],
}
FLIPS: dict[type, type] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    line: int
    what: str
    source: str


class _Points(ast.NodeVisitor):
    """Where a mutation can go, in visiting order."""

    def __init__(self) -> None:
        self.points: list[ast.AST] = []

    def generic_visit(self, node: ast.AST) -> None:
        mutable = (
            (isinstance(node, ast.Compare) and type(node.ops[0]) in FLIPS)
            or isinstance(node, ast.BoolOp)
            or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))
            or (isinstance(node, ast.Constant) and type(node.value) is int)
        )
        if mutable:
            self.points.append(node)
        super().generic_visit(node)


def mutants(path: Path, function: str | None = None) -> Iterator[Mutant]:
    text = path.read_text()
    count = len(_collect(ast.parse(text), function))
    for index in range(count):
        tree = ast.parse(text)
        node = _collect(tree, function)[index]
        what = _mutate(node)
        if what:
            yield Mutant(getattr(node, "lineno", 0), what, ast.unparse(tree))


def _collect(tree: ast.AST, function: str | None = None) -> list[ast.AST]:
    """The mutation points of the module, or of the one top-level function named."""
    finder = _Points()
    scopes = (
        [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function] if function else [tree]
    )
    for scope in scopes:
        finder.visit(scope)
    return finder.points


def _mutate(node: ast.AST) -> str:
    if isinstance(node, ast.Compare):
        old = type(node.ops[0])
        node.ops[0] = FLIPS[old]()
        return f"{old.__name__} -> {type(node.ops[0]).__name__}"
    if isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return "and <-> or"
    if isinstance(node, ast.UnaryOp):
        node.op = ast.UAdd()  # `+x` keeps the operand and drops the `not`
        node.operand = ast.Call(ast.Name("bool", ast.Load()), [node.operand], [])
        return "not dropped"
    assert isinstance(node, ast.Constant)
    node.value = node.value + 1
    return f"{node.value - 1} -> {node.value}"


def killed(tests: list[str]) -> bool:
    """The tests fail (or hang past a minute, which a mutated loop can do): the mutant is caught."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", *tests],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return True
    return done.returncode != 0


def run(selected: list[str]) -> int:
    survivors = 0
    for module in selected or list(TARGETS):
        file, _, function = module.partition("::")
        path = ROOT / file
        original = path.read_text()
        found = list(mutants(path, function or None))
        started, alive = time.monotonic(), []
        try:
            for mutant in found:
                path.write_text(mutant.source)
                if not killed(TARGETS[module]):
                    alive.append(mutant)
        finally:
            path.write_text(original)
        survivors += len(alive)
        score = (len(found) - len(alive)) / len(found) if found else 1.0
        print(
            f"{module}: {len(found) - len(alive)}/{len(found)} killed ({score:.0%}) in {time.monotonic() - started:.0f} s"
        )
        for mutant in alive:
            print(f"  survived: {file}:{mutant.line} {mutant.what}")
    return survivors


if __name__ == "__main__":
    sys.exit(1 if run(sys.argv[1:]) else 0)
