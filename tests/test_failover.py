"""The failover drill: a primary, a replica and three Sentinels; two receivers and two workers;
1,000 signed webhooks with Dodo-style retries while the primary is SIGKILLed."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import HTTP, Stack, read_events, wait_until
from tests.replicated import Replicated
from tests.test_app import NEAR_LIMIT, post_event
from tests.test_charges import RULES as CHARGE_RULES
from tests.test_charges import charges, offer_state, pending_offer
from tests.test_charges import purchase as charge_purchase
from tests.test_delivery import SECRET as ENT_SECRET
from tests.test_delivery import Entitlements, endpoints_yaml
from tests.test_faults import payment
from tests.test_offers import offer_rule

pytestmark = pytest.mark.slow
WEBHOOKS = 1000
KILL_AFTER = 300  # acknowledged webhooks before the primary is killed
CUSTOMERS = 40
REPLICA_LAG = 0.8  # seconds the replica falls behind just before the primary dies


@dataclass
class Drill:
    """What a run saw: each webhook's final status, and the failover's moments."""

    statuses: dict[str, int] = field(default_factory=dict)
    acknowledged_before_kill: set[str] = field(default_factory=set)
    promoted_after: float = 0.0  # seconds from the kill to the Sentinels naming the replica
    ready_after: float = 0.0  # seconds from the promotion to both receivers' /readyz answering 200


def send_with_retries(stacks: list[Stack], webhook_id: str, body: dict, deadline: float) -> int:
    """As Dodo does: the same webhook-id again until a 2xx, with growing pauses."""
    attempt, status = 0, 0
    while time.monotonic() < deadline:
        try:
            status = stacks[attempt % len(stacks)].post(body, webhook_id=webhook_id).status_code
        except httpx.HTTPError:
            status = 0
        if status == 200:
            return status
        time.sleep(min(0.1 * 2**attempt, 1.0))
        attempt += 1
    return status


def run_drill(replicated: Replicated, stacks: list[Stack]) -> Drill:
    drill = Drill()
    items = [(f"msg_failover_{n}", payment(n, f"cus_{n % CUSTOMERS}")) for n in range(WEBHOOKS)]
    acknowledged: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 240

    def one(item: tuple[str, dict]) -> None:
        status = send_with_retries(stacks, item[0], item[1], deadline)
        with lock:
            drill.statuses[item[0]] = status
            if status == 200:
                acknowledged.append(item[0])

    def fail_over() -> None:
        wait_until(lambda: len(acknowledged) >= KILL_AFTER, 120, what="load under way")
        with lock:
            drill.acknowledged_before_kill = set(acknowledged)
        killed, at = replicated.kill_primary_after_lag(REPLICA_LAG)
        wait_until(lambda: replicated.primary_name() not in ("", killed), 60, what="promotion")
        promoted = time.monotonic()
        drill.promoted_after = promoted - at
        ready = [False] * len(stacks)

        def all_ready() -> bool:
            for n, stack in enumerate(stacks):
                ready[n] = ready[n] or HTTP.get(stack.base_url + "/readyz", timeout=2).status_code == 200
            return all(ready)

        wait_until(all_ready, 60, what="receivers ready after the promotion")
        drill.ready_after = time.monotonic() - promoted
        replicated.start_node(killed)  # restarted, as a supervisor would: the Sentinels make it a replica
        wait_until(lambda: replicated.replicas_in_sync() >= 1, 60, what="the old primary back as a replica")

    killer = threading.Thread(target=fail_over)
    killer.start()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, items))
    killer.join()
    return drill


def start_stacks(
    replicated: Replicated, rules_dir: Path, tmp: Path, ack_replicas: int, sink: Entitlements
) -> list[Stack]:
    rule = offer_rule(extra="    expires_in: 25s\n    limit: {once_per_customer: true}\n")
    (rules_dir / "offers.yaml").write_text("rules:\n" + rule)
    endpoints_yaml(rules_dir, sink.url)
    stacks: list[Stack] = []
    for name in ("a", "b"):
        (tmp / name).mkdir()
        stack = Stack(replicated.url, rules_dir, tmp / name)
        if stacks:  # one Dodo emulator, which the offers' product lookups ask
            stack.extra_env.update(DODO_PAYMENTS_BASE_URL=stacks[0].dodo_url, DODO_PAYMENTS_API_KEY="test_key_emulator")
        else:
            stack.emulator()
        stack.extra_env.update(
            ENT_SECRET=ENT_SECRET, UPSELL_ACK_REPLICAS=str(ack_replicas), UPSELL_DELIVERY_BACKOFF="1s"
        )
        stack.web()
        stack.worker(threads=8)
        stacks.append(stack)
    return stacks


@pytest.fixture
def replicated(tmp_path: Path) -> Replicated:
    cluster = Replicated(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def sink() -> Entitlements:
    entitlements = Entitlements()
    yield entitlements
    entitlements.server.shutdown()


def applied_sources(replicated: Replicated) -> Counter[str]:
    return Counter(e["source"] for e in read_events(replicated.primary()) if e["type"].startswith("access."))


@contextmanager
def drilled(
    replicated: Replicated, rules_dir: Path, tmp: Path, sink: Entitlements, ack: int
) -> Iterator[tuple[list[Stack], Drill]]:
    """The stacks, the drill run on them, every webhook finally answered 200; closed afterwards."""
    stacks = start_stacks(replicated, rules_dir, tmp, ack, sink)
    try:
        drill = run_drill(replicated, stacks)
        assert set(drill.statuses.values()) == {200}, Counter(drill.statuses.values())
        yield stacks, drill
    finally:
        for stack in stacks:
            stack.close()


def test_with_one_replica_acknowledged_every_webhook_is_applied_exactly_once_across_a_failover(
    replicated: Replicated, rules_dir: Path, tmp_path: Path, sink: Entitlements
) -> None:
    with drilled(replicated, rules_dir, tmp_path, sink, 1) as (stacks, drill):
        ids = [f"msg_failover_{n}" for n in range(WEBHOOKS)]
        client = replicated.primary()
        wait_until(lambda: len(applied_sources(replicated)) >= WEBHOOKS, 180, what="every webhook applied")
        wait_until(lambda: not client.hlen("dramatiq:webhooks.msgs"), 120, what="every message acknowledged")
        assert applied_sources(replicated) == Counter(ids), "each acknowledged webhook applied exactly once"
        # The schedule carries on: offers made before the kill expire after it, on the new primary.
        created = {e["data"]["offer_id"] for e in read_events(client) if e["type"] == "offer.created"}
        assert len(created) == CUSTOMERS

        def expired() -> set[str]:
            return {e["data"]["offer_id"] for e in read_events(client) if e["type"] == "offer.expired"}

        wait_until(lambda: expired() == created, 90, what="every offer expired on schedule")
        # Outbound deliveries carry on: every access event reaches the entitlement system.
        access_ids = {e["id"] for e in read_events(client) if e["type"].startswith("access.")}
        wait_until(lambda: access_ids <= {e["id"] for e in sink.received}, 120, what="every access event delivered")
        assert drill.ready_after < 10, f"/readyz green {drill.ready_after:.1f} s after the promotion"
        processes = [proc for stack in stacks for proc in stack.procs if proc.log.name.startswith(("web", "worker"))]
        changes = [proc.output().count('"redis_primary_changed"') for proc in processes]
        assert changes == [1, 1, 1, 1], "each receiver and worker logs the new primary once"
        print(
            f"failover drill, UPSELL_ACK_REPLICAS=1: promoted {drill.promoted_after:.1f} s after the kill, "
            f"ready {drill.ready_after:.1f} s after, 0 acknowledged webhooks lost"
        )


def test_with_no_replica_acknowledgement_the_drill_counts_what_a_failover_loses(
    replicated: Replicated, rules_dir: Path, tmp_path: Path, sink: Entitlements
) -> None:
    with drilled(replicated, rules_dir, tmp_path, sink, 0):
        client = replicated.primary()
        wait_until(lambda: not client.hlen("dramatiq:webhooks.msgs"), 120, what="every message acknowledged")
        applied = applied_sources(replicated)
        assert max(applied.values()) == 1, "nothing applied twice, even so"
        lost = WEBHOOKS - len(applied)
        assert lost > 0, "the control: without the replica's acknowledgement the cut-off window is lost"
        print(f"failover drill, UPSELL_ACK_REPLICAS=0: {lost} of {WEBHOOKS} acknowledged webhooks lost")


def test_a_lagging_replica_turns_acknowledgements_into_503_until_it_has_the_write(
    replicated: Replicated, rules_dir: Path, tmp_path: Path
) -> None:
    """Webhook, app event and accept: 503 while the replica lags, then the same request succeeds
    and is recognised; the accepted offer is charged once."""
    (rules_dir / "upsell.yaml").write_text(CHARGE_RULES)
    stack = Stack(replicated.url, rules_dir, tmp_path)
    stack.extra_env.update(UPSELL_ACK_REPLICAS="1", UPSELL_ACK_TIMEOUT="200ms", UPSELL_RETURN_URL="https://x.example/")
    stack.emulator()
    stack.web()
    stack.worker()
    try:
        offer = pending_offer(stack, replicated.primary(), charge_purchase())
        replica = next(proc for name, proc in replicated.nodes.items() if name != replicated.primary_name())
        replica.send_signal(signal.SIGSTOP)
        try:
            late = stack.post(payment(7, "cus_late"), webhook_id="msg_lagging")
            assert (late.status_code, late.json()) == (
                503,
                {"error": "stored but not yet on enough replicas, retry later"},
            )
            event = post_event(stack, "cus_late", NEAR_LIMIT, "k1")
            assert event.status_code == 503 and event.json()["code"] == "not_replicated"
            accepted = stack.api("POST", f"/api/offers/{offer['offer_id']}/accept")
            assert accepted.status_code == 503 and accepted.json()["code"] == "not_replicated"
        finally:
            replica.send_signal(signal.SIGCONT)
        assert stack.post(payment(7, "cus_late"), webhook_id="msg_lagging").json() == {"status": "duplicate"}
        again = post_event(stack, "cus_late", NEAR_LIMIT, "k1")
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert stack.api("POST", f"/api/offers/{offer['offer_id']}/accept").status_code == 202
        offer_state(stack, offer["offer_id"], "converted")
        assert len(charges(stack)) == 1, "one charge for the two accepts"
        assert "webhook_not_replicated" in stack.procs[1].output()
    finally:
        stack.close()
