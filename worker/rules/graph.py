"""The rule set's trigger graph: which rule's offers can trigger which rule. A rule with an `offer`
makes offers whose `offer.created`, `offer.declined` and `offer.failed` events are triggers; a rule
on one of those (restricted by `when.offer_rule`, if it says) can follow it. A cycle would let one
purchase make offers without end, and a `delay` only slows it down, so every cycle is refused at load.
At run time offers made by offers also carry their causation depth (MAX_DEPTH bounds it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from worker import catalog

if TYPE_CHECKING:  # the model calls this module while loading: typed only, no import cycle
    from worker.rules.model import Rule

MAX_DEPTH = 3  # an offer made by an offer made by an offer...: deeper chains make nothing


def follows(cause: Rule, rule: Rule) -> bool:
    """`rule` can be triggered by an event of an offer `cause` made."""
    if cause.offer is None or rule.offer is None or rule.on not in catalog.OFFER_TRIGGERS:
        return False  # a notify rule emits offer.reminder, which no rule is triggered by
    return not rule.when.offer_rule or cause.id in rule.when.offer_rule


def cycles(rules: Sequence[Rule]) -> list[list[str]]:
    """A shortest chain back to itself for each rule on a cycle, in file order, leaving out rules
    already named by an earlier chain: polynomial however the rules are wired."""
    edges = {rule.id: [later.id for later in rules if follows(rule, later)] for rule in rules}
    found: list[list[str]] = []
    named: set[str] = set()
    for start in (rule.id for rule in rules):
        if start in named:
            continue
        back: dict[str, str] = {}
        frontier, chain = [start], None
        while frontier and chain is None:
            following: list[str] = []
            for node in frontier:
                for nxt in edges[node]:
                    if nxt == start:
                        chain = [*_path(back, node, start), start]
                        break
                    if nxt not in back:
                        back[nxt] = node
                        following.append(nxt)
                if chain:
                    break
            frontier = following
        if chain:
            found.append(chain)
            named.update(chain)
    return found


def _path(back: dict[str, str], node: str, start: str) -> list[str]:
    path = [node]
    while node != start:
        node = back[node]
        path.append(node)
    return path[::-1]
