#!/usr/bin/env python3
"""Bench: the 100k-ban pass on a Redis Cluster against a standalone server, in the same run (issue 22 §Speed).

The same bans (BunkerWeb's shape: JSON values, one in five service-scoped, one in fifty permanent) under each mode's
names: ``bans_ip_<ip>`` on a standalone server, ``bans_ip_{<ip>}`` on a 3-master cluster with a replica each
(harness/cluster.py). Each pass runs in a fresh process, as BunkerWeb 1.7 runs jobs, through the job's own path
(settings → connection → pass): its time includes connecting (a cluster client reads the slot map). Measured: the
steady pass (nothing changed) and the restore after every master's ``FLUSHALL``; standalone and cluster runs
alternate, so the machine's load weighs on both alike. Goal: the cluster within 1.5× of standalone, both kinds.
Printed alongside, not the goal's: a standalone primary with one replica, the same copies the cluster's replicas make
on the same cores. Then once, the mode switch: the standalone journal's first pass on the emptied cluster (bans/mode_switch.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]

from bans_report import load_average  # noqa: E402

from harness.cluster import ClusterTopology  # noqa: E402
from harness.servers import RedisServer  # noqa: E402
from redissync.keys import BanKey  # noqa: E402

GOAL_RATIO = 1.5
WRITE_CHUNK = 5_000


def bans(count: int) -> Iterator[tuple[BanKey, str, int | None]]:
    """``count`` bans as instances write them (bench_bans.py's populate script, in Python: one set for both modes)."""
    now = int(time.time())
    for i in range(count):
        ip = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        service = f"app{i % 7}.example.com" if i % 5 == 0 else None
        value = json.dumps({"reason": "antibot" if i % 3 == 0 else "bad behavior", "service": service or "unknown",
                            "date": now - i % 3600, "country": "local", "ban_scope": "service" if service else "global",
                            "reason_data": {}, "permanent": i % 50 == 0}, separators=(",", ":"))
        yield BanKey(ip, service), value, None if i % 50 == 0 else 3600 + i % 86400


def populate(client, count: int, cluster: bool) -> None:
    pipe = client.pipeline(transaction=False)
    for number, (ban, value, ttl) in enumerate(bans(count), 1):
        pipe.set(ban.key_in(cluster), value, ex=ttl)
        if number % WRITE_CHUNK == 0:
            pipe.execute()
    pipe.execute()


def child(folder: str) -> dict:
    """One pass in this (fresh) process, configured by the environment as a job is."""
    started, cpu = time.monotonic(), time.process_time()
    from redissync.bans.cycle import reconcile
    from redissync.connection import connect
    from redissync.settings import load_settings
    from redissync.state import StateStore

    client = connect(load_settings(os.environ))
    try:
        result = reconcile(client, StateStore(Path(folder)))
    finally:
        client.close()
    return {"seconds": time.monotonic() - started, "cpu": time.process_time() - cpu, "seen": result.seen, "new": result.new,
            "restored": result.restored, "unbans": result.unbans, "verdict": result.verdict,
            "mode_switch": result.mode_switch}


def one_pass(env: dict[str, str], folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", str(folder)], capture_output=True, text=True,
                          timeout=1800, env={**os.environ, **env})
    if done.returncode:
        raise RuntimeError(f"the pass failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Side:
    """One mode's server(s), its env and its journal's folder."""

    def __init__(self, name: str, env: dict[str, str], folder: Path, flush, expected: int):
        self.name, self.env, self.folder, self.flush, self.expected = name, env, folder, flush, expected
        self.runs: dict[str, list[dict]] = {"first": [], "steady": [], "restore": []}

    def run(self, kind: str) -> None:
        if kind == "restore":
            self.flush()
        figures = one_pass(self.env, self.folder)
        wanted = {"first": ("new", self.expected), "steady": ("seen", self.expected), "restore": ("restored", self.expected)}[kind]
        if figures[wanted[0]] != wanted[1] or figures["unbans"]:
            raise RuntimeError(f"{self.name} {kind} pass: {figures} (expected {wanted[0]} = {wanted[1]}, no unban)")
        self.runs[kind].append(figures)

    def seconds(self, kind: str) -> tuple[float, float]:
        """Min and median: the machine is shared, the median is what the goal compares."""
        times = [run["seconds"] for run in self.runs[kind]]
        return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    with tempfile.TemporaryDirectory(prefix="redissync-bench-cluster-") as tmp:
        work = Path(tmp)
        standalone = RedisServer(work / "standalone", name="standalone").start()
        primary = RedisServer(work / "primary", name="primary").start()
        replica = RedisServer(work / "replica", name="replica", extra=[f"replicaof 127.0.0.1 {primary.port}"]).start()
        cluster = None
        try:
            cluster = ClusterTopology(work / "cluster").start()
            admin = standalone.client(socket_timeout=120)
            primary_admin = primary.client(socket_timeout=120)
            cluster_admin = cluster.client(socket_timeout=120)
            populate(admin, args.size, cluster=False)
            populate(primary_admin, args.size, cluster=False)
            populate(cluster_admin, args.size, cluster=True)

            def flush_primary() -> None:
                primary_admin.flushall()
                primary_admin.wait(1, 120_000)  # the replica applied the flush: not still replicating during the pass

            def flush_masters() -> None:
                for master in cluster.masters():
                    with master.client(socket_timeout=120) as client:
                        client.flushall()
                cluster.wait_ready()  # every replica caught up: the flush is not still replicating during the pass

            sides = [Side("standalone", standalone.settings_env(), work / "journal-standalone", admin.flushall, args.size),
                     Side("cluster", cluster.settings_env(), work / "journal-cluster", flush_masters, args.size),
                     Side("replicated", primary.settings_env(), work / "journal-replicated", flush_primary, args.size)]
            for side in sides:
                side.run("first")
            for kind in ("steady", "restore"):
                for _ in range(args.rounds):
                    for side in sides:  # alternated: the machine's load weighs on both alike
                        side.run(kind)
            report(args.size, args.rounds, sides)
            flush_masters()  # BunkerWeb's docs: cluster mode starts from an empty keyspace
            shutil.copytree(sides[0].folder, work / "journal-switch")
            switch = one_pass(cluster.settings_env(), work / "journal-switch")
            print(f"  mode switch, standalone journal → empty cluster: {switch['seconds']:.2f} s, client CPU {switch['cpu']:.2f} s "
                  f"({switch['mode_switch'] or 'NOTHING REWRITTEN'}; {switch['unbans']} unbans, {switch['restored']} restored)")
        finally:
            if cluster is not None:
                cluster.stop()
            for server in (standalone, replica, primary):
                server.stop(hard=True)
    return 0


def report(size: int, rounds: int, sides: list[Side]) -> None:
    standalone, cluster, replicated = sides
    print(f"{size:,} bans, one pass per fresh process (connect + pass), seconds min / median of {rounds} "
          f"(first pass: 1 run); a 3-master cluster with a replica each against one standalone server; the client's CPU "
          f"(median, standalone / cluster) is what a loaded machine cannot inflate; {load_average()}")
    for kind in ("first", "steady", "restore"):
        (s_low, s_mid), (c_low, c_mid) = standalone.seconds(kind), cluster.seconds(kind)
        ratio = c_mid / s_mid
        verdict = "" if kind == "first" else f"  (goal ≤ {GOAL_RATIO}x: {'met' if ratio <= GOAL_RATIO else 'MISSED'})"
        cpu = [statistics.median(run["cpu"] for run in side.runs[kind]) for side in sides]
        print(f"  {kind:8} standalone {s_low:6.2f} / {s_mid:6.2f} s ({size / s_mid:>9,.0f} bans/s)   cluster "
              f"{c_low:6.2f} / {c_mid:6.2f} s ({size / c_mid:>9,.0f} bans/s)   cluster / standalone {ratio:4.2f}x{verdict}; "
              f"client CPU {cpu[0]:.2f} / {cpu[1]:.2f} s")
    # The cluster's masters each replicate to a replica on the same 2 cores: a standalone primary with one replica
    # pays the same copies, so this is the comparison at equal durability (printed, not the goal's).
    for kind in ("steady", "restore"):
        r_mid, c_mid = replicated.seconds(kind)[1], cluster.seconds(kind)[1]
        print(f"  {kind:8} against a standalone primary with one replica: {r_mid:6.2f} s ({size / r_mid:>9,.0f} bans/s), "
              f"cluster / replicated standalone {c_mid / r_mid:4.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
