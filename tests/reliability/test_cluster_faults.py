"""The check against a real cluster that loses nodes: a replica killed (a shard without replica), its master killed
next (a master in fail, its slots unserved), and a master killed with its replica promoted (healthy again)."""

from __future__ import annotations

import pytest

from harness.servers import wait_until
from redissync.diagnose import diagnose

pytestmark = pytest.mark.slow


def test_a_shard_loses_its_replica_then_its_master(make_cluster) -> None:
    topology = make_cluster()
    master = topology.masters()[0]
    seeds = " ".join(f"127.0.0.1:{node.port}" for node in topology.nodes if node is not master)
    env = topology.settings_env(REDIS_CLUSTER_NODES=seeds, REDIS_TIMEOUT="3000")
    [replica] = topology.replicas_of(master)
    topology.kill(replica)
    report = diagnose(env)
    assert report.healthy, report.render_text()
    assert any(f"master 127.0.0.1:{master.port}" in w and "has no working replica" in w for w in report.warnings), report.warnings
    shard = next(s for s in report.steps if s.id == "cluster-topology").details["shards"]
    assert [s["state"] for s in shard if s["master"]["port"] == master.port] == ["no replica"]

    topology.kill(master)
    report = diagnose(env)
    assert report.failure is not None, report.render_text()
    assert report.failure.id == "cluster-topology"
    assert f"master 127.0.0.1:{master.port} is in fail and no replica took over" in report.failure.sentence


def test_a_master_failed_over_to_its_replica_is_healthy_again(make_cluster) -> None:
    topology = make_cluster()
    master = topology.masters()[1]
    [replica] = topology.replicas_of(master)
    seeds = " ".join(f"127.0.0.1:{node.port}" for node in topology.nodes if node is not master)
    env = topology.settings_env(REDIS_CLUSTER_NODES=seeds, REDIS_TIMEOUT="3000")
    topology.kill(master)
    wait_until(lambda: replica.port in [node.port for node in topology.masters()], 30, "the replica to be promoted")
    topology.wait_ready()
    report = diagnose(env)
    assert report.healthy, report.render_text()
    shards = next(s for s in report.steps if s.id == "cluster-topology").details["shards"]
    promoted = next(s for s in shards if s["master"]["port"] == replica.port)
    assert promoted["state"] == "no replica"
    assert any(f"127.0.0.1:{master.port}" in w and "in fail and serves no slot" in w for w in report.warnings), report.warnings
