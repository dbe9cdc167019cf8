"""`dodo-upsell rules test [DIR]`: runs the folder's scenarios (scenarios.py) through the worker's own
matching, limits, delays and access merging, in this process's memory with the clock moved (the
backtest's replay: no Redis, no Dodo), and reports each failed expectation with its `file:line`."""

from __future__ import annotations

import copy
import importlib.resources
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from worker import events
from worker.access import grants
from worker.book import Book
from worker.folder import yamlsource
from worker.offers.making import offer_trigger
from worker.replay import scenarios
from worker.replay.backtest import Replay
from worker.replay.scenarios import ExpectAccess, ExpectOffer, Scenario, Step


@dataclass
class Result:
    scenario: str
    file: str
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def sample(name: str) -> dict[str, Any]:
    """A Dodo payload sample (the emulator's templates: the one set the tests use too)."""
    folder = importlib.resources.files("emulator") / "templates"
    found = folder / f"{name}.json"
    if not found.is_file():
        known = sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))
        raise ValueError(f"no webhook sample {name!r}; samples: {', '.join(known)}")
    return dict(json.loads(found.read_text()))


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    """`data.product_cart.0.product_id`: keys and list indexes, the last one set (made if missing)."""
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def webhook_body(step: Step, scenario: Scenario, n: int, at: float) -> dict[str, Any]:
    assert step.webhook is not None
    body = copy.deepcopy(sample(step.webhook))
    data = body.setdefault("data", {})
    if isinstance(data.get("customer"), dict):
        data["customer"]["customer_id"] = scenario.customer
    elif "customer_id" in data:
        data["customer_id"] = scenario.customer
    if "payment_id" in data:
        data["payment_id"] = f"pay_scn_{n}"
    body["timestamp"] = events.iso(datetime.fromtimestamp(at, UTC))
    for path, value in step.set.items():
        _put(body, path, value)
    return body


def _start(replay: Replay, scenario: Scenario, at: float) -> None:
    """The customer's starting access: each product held from before the scenario, for good."""
    for product in scenario.access:
        change = grants.Change(f"start:{product}", "grant", "scenario", product)
        update = grants.Update(
            "scenario-start",
            scenario.customer,
            datetime.fromtimestamp(at - 1, UTC),
            "access.granted",
            "starting access",
            [change],
        )
        replay.apply(update, at - 1)


def _offers(replay: Replay, customer: str, rule: str) -> list[Any]:
    return [o for o in replay.offers.values() if o.customer_id == customer and o.rule_id == rule]


def _check_offer(replay: Replay, scenario: Scenario, want: ExpectOffer, start: float) -> str | None:
    made = _offers(replay, scenario.customer, want.rule)
    fits = [
        o
        for o in made
        if want.variant in ("any", o.variant)
        and want.product in (None, o.product_id)
        and (want.discount is None or (o.discount_code or "none") == want.discount)
        and (
            want.made_at is None
            or abs(datetime.fromisoformat(o.created_at.replace("Z", "+00:00")).timestamp() - start - want.made_at) < 1
        )
    ]
    if fits:
        return None
    shown = [
        f"{o.rule_id}/{o.variant} {o.product_id} code {o.discount_code or 'none'} at {o.created_at}"
        for o in replay.offers.values()
        if o.customer_id == scenario.customer
    ]
    return (
        f"expected an offer from {want.rule!r} ({want.model_dump(exclude_none=True)}); offers made: {shown or 'none'}"
    )


def _check_access(replay: Replay, scenario: Scenario, want: ExpectAccess, at: float) -> str | None:
    state = grants.current(replay.book.access, replay.state(scenario.customer), at)
    if want.tier is not None and state.tier != want.tier:
        return f"expected tier {want.tier!r}, found {state.tier!r}"
    if want.features is not None and sorted(state.features) != sorted(want.features):
        return f"expected features {sorted(want.features)}, found {sorted(state.features)}"
    for name, value in (want.limits or {}).items():
        if state.limits.get(name) != value:
            return f"expected limit {name} = {value}, found {state.limits.get(name)}"
    return None


def run_scenario(book: Book, scenario: Scenario, doc: yamlsource.Document, index: int) -> Result:
    started = time.perf_counter()
    result = Result(scenario.name, str(doc.path))
    start = datetime.fromisoformat(scenario.start.replace("Z", "+00:00")).timestamp()
    replay = Replay(book, None, start)
    _start(replay, scenario, start)
    ids = itertools.count(1)
    for n, step in enumerate(scenario.steps):
        at = start + step.at
        entry = f"{int(at * 1000)}-{n}"
        failure: str | None = None
        try:
            if step.webhook is not None:
                body = webhook_body(step, scenario, next(ids), at)
                fields = {"webhook_id": f"msg_scn_{index}_{n}", "type": body["type"], "body": json.dumps(body)}
                replay.replay(entry, fields)
            elif step.app_event is not None:
                event_id = f"app_scn_{index}_{n}"
                replay.replay(
                    entry, {"customer_id": scenario.customer, "event_id": event_id, "body": json.dumps(step.app_event)}
                )
            elif step.decline is not None:
                replay.run_due(at)
                pending = [o for o in _offers(replay, scenario.customer, step.decline) if o.state == "pending"]
                if not pending:
                    failure = f"no pending offer from {step.decline!r} to decline"
                else:
                    pending[0].state = "declined"
                    replay.run(offer_trigger(pending[0], "offer.declined"), at)
            else:
                replay.run_due(at)
                failure = _expectation(replay, scenario, step, start, at)
        except (ValueError, KeyError, LookupError, IndexError) as exc:  # a sample or path that does not fit
            failure = f"the step could not run: {exc}"
        if failure:
            result.failures.append(f"{scenarios.where(doc, index, n, step)}: scenario {scenario.name!r}: {failure}")
    result.seconds = time.perf_counter() - started
    return result


def _expectation(replay: Replay, scenario: Scenario, step: Step, start: float, at: float) -> str | None:
    if step.expect_offer is not None:
        return _check_offer(replay, scenario, step.expect_offer, start)
    if step.expect_no_offer is not None:
        made = _offers(replay, scenario.customer, step.expect_no_offer)
        return f"expected no offer from {step.expect_no_offer!r}, found {[o.offer_id for o in made]}" if made else None
    if step.expect_notify is not None:
        return None if replay.notified[step.expect_notify] else f"expected {step.expect_notify!r} to have notified"
    assert step.expect_access is not None
    return _check_access(replay, scenario, step.expect_access, at)


def run(book: Book, directory: Path) -> tuple[list[Result], list[yamlsource.Problem]]:
    """Every scenario of every test file; file errors as problems (the scenarios of the others still run)."""
    results: list[Result] = []
    problems: list[yamlsource.Problem] = []
    for path in scenarios.files(directory):
        try:
            doc, found = scenarios.load(path, directory)
        except yamlsource.ProblemsFound as exc:
            problems += exc.problems
            continue
        for index, scenario in enumerate(found.scenarios):
            results.append(run_scenario(book, scenario, doc, index))
    return results, problems


def junit(results: list[Result], problems: list[yamlsource.Problem]) -> str:
    """JUnit XML for CI systems: a test case per scenario, its failures with their `file:line`."""
    suite = ElementTree.Element("testsuite", name="dodo-upsell rules test", tests=str(len(results) + len(problems)))
    suite.set("failures", str(sum(bool(r.failures) for r in results) + len(problems)))
    for result in results:
        case = ElementTree.SubElement(
            suite, "testcase", classname=result.file, name=result.scenario, time=f"{result.seconds:.4f}"
        )
        for failure in result.failures:
            ElementTree.SubElement(case, "failure", message=failure).text = failure
    for problem in problems:
        case = ElementTree.SubElement(suite, "testcase", classname=str(problem.path), name="file error")
        ElementTree.SubElement(case, "failure", message=str(problem)).text = str(problem)
    return ElementTree.tostring(suite, encoding="unicode")
