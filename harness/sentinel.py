"""A Sentinel topology: master, replica, three sentinels (ACL-protected), with failover helpers."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from .servers import RedisServer, TLSFiles, free_port, wait_until, with_core_dir

MASTER_NAME = "mymaster"
SENTINEL_USER = "sentinel-admin"
SENTINEL_PASSWORD = "Sentinel-Pw-9c41e7d0-redissync"
DATA_PASSWORD = "Data-Pw-4b8e2a61-redissync"
FAILOVER_TIMEOUT = 30.0


def sentinel_view(client: redis.Redis, what: str) -> list[dict[str, Any]]:
    """``SENTINEL SENTINELS|REPLICAS`` of the test master as dicts, sent raw: redis-py 6.3–6.4's sentinel_*() helpers
    fail with a TypeError (``return_responses``, ``once``), and make compat runs the harness on them."""
    rows = []
    for item in client.execute_command("SENTINEL", what, MASTER_NAME):
        fields = {_text(key): _text(value) for key, value in zip(item[::2], item[1::2], strict=True)}
        flags = set(fields.get("flags", "").split(","))
        rows.append({**fields, "port": int(fields.get("port", 0)), "is_sdown": "s_down" in flags, "is_odown": "o_down" in flags})
    return rows


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class SentinelTopology:
    workdir: Path
    tls: TLSFiles | None = None
    # Not lower. At 1000 ms a busy 2-core machine once stalled one sentinel for a second, one down-after after a
    # SIGKILL round's switch-master: it logged +sdown, +odown (quorum 3/2, its peers' answers from the SIGKILL still
    # counted) and +try-failover in the same millisecond, and failed the new master over again. A stall of 3 s is
    # far rarer; a SIGKILL or pause round waits 2 s longer for it.
    down_after_ms: int = 3000
    master: RedisServer = field(init=False)
    replica: RedisServer = field(init=False)
    sentinels: list[RedisServer] = field(init=False, default_factory=list)

    def _data_node(self, name: str, extra: list[str]) -> RedisServer:
        return RedisServer(self.workdir / name, password=DATA_PASSWORD, tls=self.tls, name=name,
                           extra=[f"masterauth {DATA_PASSWORD}", "replica-read-only yes", "repl-diskless-sync-delay 0", *extra])

    def start(self) -> SentinelTopology:
        self.master = self._data_node("master", []).start()
        self.replica = self._data_node("replica", [f"replicaof 127.0.0.1 {self.master.port}"]).start()
        wait_until(self._replica_online, 15, "the replica to sync with the master (and the master to see it online)")
        # Pre-seeded ids and peers: the topology converges at once instead of after several hello rounds.
        ports = [free_port() for _ in range(3)]
        ids = [secrets.token_hex(20) for _ in range(3)]
        for index in range(3):
            peers = [f"sentinel known-sentinel {MASTER_NAME} 127.0.0.1 {ports[i]} {ids[i]}" for i in range(3) if i != index]
            sentinel = RedisServer(
                self.workdir / f"sentinel{index}", name=f"sentinel{index}", sentinel=True, tls=self.tls,
                port=ports[index],
                acl_lines=[
                    "user default off",
                    f"user {SENTINEL_USER} on >{SENTINEL_PASSWORD} ~* &* +@all",
                    f"sentinel sentinel-user {SENTINEL_USER}",
                    f"sentinel sentinel-pass {SENTINEL_PASSWORD}",
                ],
                extra=[
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2",
                    f"sentinel auth-pass {MASTER_NAME} {DATA_PASSWORD}",
                    f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
                    f"sentinel failover-timeout {MASTER_NAME} 10000",
                    f"sentinel parallel-syncs {MASTER_NAME} 1",
                    f"sentinel myid {ids[index]}",
                    f"sentinel known-replica {MASTER_NAME} 127.0.0.1 {self.replica.port}",
                    *peers,
                ],
                admin_username=SENTINEL_USER, admin_password=SENTINEL_PASSWORD,
            )
            self.sentinels.append(sentinel.start())
        wait_until(self._converged, 30, "three sentinels to see each other and the replica")
        return self

    def _replica_online(self) -> bool:
        """Both ends: the replica's link is up *and* the master lists it ``online`` (not ``wait_bgsave``), which
        happens a moment later, after the replica's first ACK."""
        if self.replica.client().info("replication")["master_link_status"] != "up":
            return False
        listed = self.master.client().info("replication")
        return any(isinstance(row, dict) and row.get("port") == self.replica.port and row.get("state") == "online"
                   for row in listed.values())

    def _converged(self) -> bool:
        for sentinel in self.sentinels:
            client = sentinel.client()
            if len(sentinel_view(client, "SENTINELS")) != 2:
                return False
            replicas = sentinel_view(client, "REPLICAS")
            if not any(r["port"] == self.replica.port and not r["is_sdown"] for r in replicas):
                return False
        return True

    @property
    def nodes(self) -> list[RedisServer]:
        return [self.master, self.replica]

    def master_port(self, sentinel: RedisServer | None = None) -> int:
        sentinel = sentinel or self.sentinels[0]
        _, port = sentinel.client().execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)  # see sentinel_view
        return int(port)

    def node_on(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def wait_for_promotion(self, old_port: int, timeout: float = FAILOVER_TIMEOUT) -> RedisServer:
        """Every live sentinel names a new master, that node is a master, and the old one (if alive) has
        been turned into a replica: until then a client may still write to the old master."""
        old = self.node_on(old_port)

        def promoted() -> int | None:
            ports = {self.master_port(s) for s in self.sentinels if s.process is not None}
            if len(ports) != 1 or old_port in ports:
                return None
            port = ports.pop()
            if self.node_on(port).client().info("replication")["role"] != "master":
                return None
            if old.process is not None and old.client().info("replication")["role"] != "slave":
                return None
            return port

        return self.node_on(wait_until(promoted, timeout, f"a new master to replace port {old_port}"))

    def failover(self) -> RedisServer:
        """``SENTINEL FAILOVER``; returns the newly promoted node once all sentinels agree."""
        old_port = self.master_port()
        self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        return self.wait_for_promotion(old_port)

    def settings_env(self, **overrides: str) -> dict[str, str]:
        env = {
            "USE_REDIS": "yes",
            "REDIS_SENTINEL_HOSTS": " ".join(f"127.0.0.1:{s.port}" for s in self.sentinels),
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "REDIS_SENTINEL_USERNAME": SENTINEL_USER,
            "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
            "REDIS_PASSWORD": DATA_PASSWORD,
        }
        if self.tls:
            env.update(REDIS_SSL="yes", REDIS_SSL_VERIFY="yes", SSL_CERT_FILE=str(self.tls.ca))
        env.update(overrides)
        return with_core_dir(env)

    def stop(self) -> None:
        for server in [*self.sentinels, getattr(self, "replica", None), getattr(self, "master", None)]:
            if server is not None:
                server.stop(hard=True)
