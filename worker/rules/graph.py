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
    from worker.folder import yamlsource
    from worker.rules.model import Rule

MAX_DEPTH = 3  # an offer made by an offer made by an offer...: deeper chains make nothing


def follows(cause: Rule, rule: Rule) -> bool:
    """`rule` can be triggered by an event of an offer `cause` made."""
    if cause.offer is None or rule.offer is None or rule.on not in catalog.OFFER_TRIGGERS:
        return False  # a notify rule emits offer.reminder, which no rule is triggered by
    return not rule.when.offer_rule or cause.id in rule.when.offer_rule


def cycles(rules: Sequence[Rule]) -> list[list[str]]:
    """One chain per cycle, in file order: a rule that follows any offer (no `when.offer_rule`)
    follows its own, so it is a cycle by itself; the rest is a sparse graph (an edge per
    `offer_rule` name), whose strongly connected components each give their shortest chain.
    Linear in rules and names, so 10,000 rules check in moments."""
    ids = {rule.id: rule for rule in rules}
    found = [[rule.id, rule.id] for rule in rules if rule.offer and follows(rule, rule)]
    edges: dict[str, list[str]] = {rule.id: [] for rule in rules}
    for rule in rules:  # a rule without `offer_rule` is a cycle by itself (above): no edges needed
        for cause in rule.when.offer_rule or []:
            if cause in ids and cause != rule.id and follows(ids[cause], rule):
                edges[cause].append(rule.id)
    position = {rule_id: n for n, rule_id in enumerate(ids)}
    for component in _components(list(ids), edges):
        if len(component) > 1:
            first = min(component, key=position.__getitem__)
            found.append(_shortest_chain(first, edges, set(component)))
    return sorted(found, key=lambda chain: position[chain[0]])


def _components(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, without recursion (a long chain of rules is fine)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, at = work.pop()
            if at == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if at < len(edges[node]):
                work.append((node, at + 1))
                nxt = edges[node][at]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


def _shortest_chain(start: str, edges: dict[str, list[str]], within: set[str]) -> list[str]:
    """Breadth first from `start` back to it, inside its component."""
    back: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in edges[node]:
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(back[path[-1]])
                    return [*reversed(path), start]
                if nxt in within and nxt not in back:
                    back[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError("a component of two or more rules has a cycle through each")


def problems(loaded: list[tuple[yamlsource.Document, int, Rule]]) -> list[yamlsource.Problem]:
    """Load errors: a chain of rules that trigger each other (rules/graph.py): one error at its first rule."""
    where = {rule.id: (doc, index) for doc, index, rule in loaded}
    problems = []
    for chain in cycles([rule for _, _, rule in loaded]):
        doc, index = where[chain[0]]
        problems.append(
            doc.problem(
                ("rules", index, "on"),
                f"rule {chain[0]!r}: its offers trigger a chain back to it: {' -> '.join(chain)}; "
                "one offer would make offers without end (a delay only slows it): narrow `when.offer_rule`",
            )
        )
    return problems
