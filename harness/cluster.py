"""A real Redis Cluster: 3 masters + 3 replicas on loopback, created by ``redis-cli --cluster create``.

Each node is a :class:`RedisServer` on a port whose bus port (port + 10000) is free. Variants: plain, ACL users
(``default`` off; the full user replicates and administers, the least-privilege user is what redissync runs as)
and TLS (``tls-cluster``/``tls-replication`` with the test CA). Readiness is awaited, never slept for: every
node reports ``cluster_state:ok`` with every slot ok and all six nodes known, and every replica's link is up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.cluster import ClusterNode, RedisCluster

from .acl import FULL_PASSWORD, FULL_USER, acl_lines
from .servers import RedisServer, TLSFiles, cluster_port, wait_until, with_core_dir

MASTERS = 3
NODE_TIMEOUT_MS = 2000  # short, so a killed master is failed over in seconds; a 2-core stall of 1 s stays harmless
READY_TIMEOUT = 30.0
ALL_SLOTS = 16384


def redis_cli() -> str:
    """Debian's redis-cli (redis-tools): ``--cluster create`` drives any server version the suite runs."""
    return shutil.which("redis-cli") or "/usr/bin/redis-cli"


def parse_cluster_nodes(text: str) -> list[dict[str, Any]]:
    """``CLUSTER NODES`` (every version we support) as rows: id, address, flags, master id, link, slot ranges."""
    rows = []
    for line in text.strip().splitlines():
        fields = line.split()
        address = fields[1].split("@")[0]
        ranges = [tuple(map(int, item.split("-"))) if "-" in item else (int(item), int(item))
                  for item in fields[8:] if not item.startswith("[")]
        rows.append({"id": fields[0], "address": address, "port": int(address.rsplit(":", 1)[1]),
                     "flags": set(fields[2].split(",")), "master_id": None if fields[3] == "-" else fields[3],
                     "link": fields[7], "slots": ranges})
    return rows


@dataclass
class ClusterTopology:
    """Six nodes and the helpers tests need: the admin cluster client, the shards, the env our jobs get."""

    workdir: Path
    tls: TLSFiles | None = None
    acl: bool = False
    nodes: list[RedisServer] = field(default_factory=list)

    # -- life cycle ---------------------------------------------------------------------------------------
    def start(self) -> ClusterTopology:
        try:
            self.nodes = [self._node(index).start() for index in range(2 * MASTERS)]
            self._create()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(hard=True)

    def _node(self, index: int) -> RedisServer:
        extra = ["cluster-enabled yes", "cluster-config-file nodes.conf", f"cluster-node-timeout {NODE_TIMEOUT_MS}",
                 "cluster-replica-validity-factor 0", "repl-diskless-sync-delay 0", "appendonly no"]
        if self.tls:
            extra.append("tls-cluster yes")
        options: dict[str, Any] = {}
        if self.acl:
            extra += [f"masteruser {FULL_USER}", f"masterauth {FULL_PASSWORD}"]
            options = {"acl_lines": acl_lines(), "admin_username": FULL_USER, "admin_password": FULL_PASSWORD}
        return RedisServer(self.workdir / f"node{index}", name=f"node{index}", tls=self.tls, extra=extra,
                           pick_port=cluster_port, **options)

    def _create(self) -> None:
        command = [redis_cli(), "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in self.nodes),
                   "--cluster-replicas", "1", "--cluster-yes"]
        env = dict(os.environ)
        if self.acl:
            command += ["--user", FULL_USER]
            env["REDISCLI_AUTH"] = FULL_PASSWORD  # not on the command line
        if self.tls:
            command += ["--tls", "--cacert", str(self.tls.ca)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
        if done.returncode != 0 or "[OK] All 16384 slots covered" not in done.stdout:
            raise AssertionError(f"redis-cli --cluster create failed ({done.returncode}): {done.stdout[-800:]} {done.stderr[-400:]}")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Every live node: state ok, every slot ok, every node known, replicas linked to their masters, and
        every node's view of who is master agreeing with what each node says of itself (gossip converged)."""
        wait_until(self._ready, timeout, "every cluster node to report cluster_state:ok with all slots ok, replicas "
                   "linked, and the same view of masters and replicas")

    def _ready(self) -> bool:
        live = [node for node in self.nodes if node.process is not None]
        roles = {}
        for node in live:
            with node.client(socket_timeout=1) as client:
                info = client.cluster("info")
                if (str(info.get("cluster_state")) != "ok" or int(info.get("cluster_slots_ok", 0)) != ALL_SLOTS
                        or int(info.get("cluster_known_nodes", 0)) < len(live)):
                    return False
                replication = client.info("replication")
                if replication["role"] != "master" and replication.get("master_link_status") != "up":
                    return False
                roles[node.port] = replication["role"] == "master"
        for node in live:
            view = {row["port"]: "master" in row["flags"] for row in self._rows_of(node) if row["port"] in roles}
            if view != roles:
                return False
        return True

    @staticmethod
    def _rows_of(node: RedisServer) -> list[dict[str, Any]]:
        with node.client(socket_timeout=1) as client:
            text = client.execute_command("CLUSTER", "NODES")  # two words: no redis-py parser, the raw text
        return parse_cluster_nodes(text.decode() if isinstance(text, bytes) else text)

    # -- what tests read ----------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """The cluster as one live node sees it (``CLUSTER NODES``)."""
        return self._rows_of(next(node for node in self.nodes if node.process is not None))

    def node_at(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def masters(self) -> list[RedisServer]:
        return [self.node_at(row["port"]) for row in self.rows() if "master" in row["flags"] and "fail" not in row["flags"]]

    def replicas_of(self, master: RedisServer) -> list[RedisServer]:
        rows = self.rows()
        master_id = next(row["id"] for row in rows if row["port"] == master.port)
        return [self.node_at(row["port"]) for row in rows if row["master_id"] == master_id and "fail" not in row["flags"]]

    def client(self, **overrides: Any) -> RedisCluster:
        """An admin cluster client (the full user under ACL; TLS not verified: it is never the subject)."""
        options: dict[str, Any] = {"protocol": 2, "socket_timeout": 5, "decode_responses": True}
        if self.acl:
            options.update(username=FULL_USER, password=FULL_PASSWORD)
        if self.tls:
            options.update(ssl=True, ssl_cert_reqs="none", ssl_check_hostname=False)
        options.update(overrides)
        return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", node.port) for node in self.nodes], **options)

    def set_user(self, user: str, password: str, rule: str) -> None:
        """``ACL SETUSER`` on every node: ACLs are per node (an operator runs it on each, or ships one aclfile)."""
        for node in self.nodes:
            if node.process is not None:
                with node.client() as admin:
                    admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}", *rule.split())

    def flush(self) -> None:
        """Every master's keyspace emptied (what the session-scoped cluster does between tests)."""
        for master in self.masters():
            with master.client() as client:
                client.flushall()

    def seeds(self, count: int = MASTERS) -> str:
        """REDIS_CLUSTER_NODES as a user writes it: ``count`` nodes, space separated."""
        return " ".join(f"127.0.0.1:{node.port}" for node in self.nodes[:count])

    def settings_env(self, seeds: int = MASTERS, **overrides: str) -> dict[str, str]:
        """The environment a BunkerWeb scheduler gives our jobs for this cluster (no REDIS_HOST: core's default)."""
        env = {"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": self.seeds(seeds)}
        if self.tls:
            env.update(REDIS_SSL="yes", REDIS_SSL_VERIFY="yes", SSL_CERT_FILE=str(self.tls.ca))
        env.update(overrides)
        return with_core_dir(env)

    # -- faults ------------------------------------------------------------------------------------------------
    def kill(self, node: RedisServer) -> None:
        """SIGKILL one node and wait until a live node flags it ``fail`` (after cluster-node-timeout)."""
        node_id = next(row["id"] for row in self.rows() if row["port"] == node.port)
        node.stop(hard=True)
        wait_until(lambda: any(row["id"] == node_id and "fail" in row["flags"] for row in self.rows()),
                   NODE_TIMEOUT_MS / 1000 * 10, f"the cluster to flag node {node_id[:8]} as fail")
