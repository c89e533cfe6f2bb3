"""The diagnosis of a Redis Cluster (REDIS_CLUSTER_NODES) against real clusters: seeds, state, shards, every node at
its announced address, redis-py's cluster client; each finding names what to change."""

from __future__ import annotations

import pytest

from harness.acl import LEAST_PASSWORD, LEAST_PRIVILEGE_CLUSTER_COMMANDS, LEAST_USER, least_privilege_rule
from harness.servers import free_port, wait_until
from redissync.diagnose import diagnose
from redissync.diagnose.cluster import ALL_SLOTS, shards_from_nodes, uncovered


def step(report, step_id: str):
    return next(s for s in report.steps if s.id == step_id)


@pytest.mark.compat_cluster
def test_a_healthy_cluster_shows_every_shard_with_its_replica_slots_and_keys(redis_cluster) -> None:
    client = redis_cluster.client()
    client.mset_nonatomic({f"bans_ip_{{10.0.{i // 250}.{i % 250}}}": "{}" for i in range(300)})
    client.close()
    report = diagnose(redis_cluster.settings_env())
    assert report.healthy, report.render_text()
    assert report.mode == "cluster"
    shards = step(report, "cluster-topology").details["shards"]
    assert len(shards) == 3
    assert sum(shard["slot_count"] for shard in shards) == ALL_SLOTS
    actual = {master.port: master.client().dbsize() for master in redis_cluster.masters()}
    assert {shard["master"]["port"]: shard["keys"] for shard in shards} == actual
    assert sum(actual.values()) == 300
    for shard in shards:
        assert shard["state"] == "ok"
        assert [replica["port"] for replica in shard["replicas"]] == [
            node.port for node in redis_cluster.replicas_of(redis_cluster.node_at(shard["master"]["port"]))]
        assert shard["master"]["reachable"] is True
    text = report.render_text()
    assert f"slots 0-5460 (5461): master 127.0.0.1:{shards[0]['master']['port']} (master), {shards[0]['keys']} keys" in text
    assert "3 master(s) answer PING" in step(report, "cluster-client").summary
    assert report.to_dict()["facts"]["cluster"] is True


def test_one_answering_seed_is_enough_the_others_are_warnings(redis_cluster) -> None:
    dead = free_port()
    env = redis_cluster.settings_env(REDIS_CLUSTER_NODES=f"127.0.0.1:{dead} {redis_cluster.seeds(1)}")
    report = diagnose(env)
    assert report.healthy, report.render_text()
    assert any(f"127.0.0.1:{dead}" in warning and "REDIS_CLUSTER_NODES" in warning for warning in report.warnings)


def test_no_answering_seed_fails_naming_the_setting(redis_cluster) -> None:
    report = diagnose(redis_cluster.settings_env(REDIS_CLUSTER_NODES=f"127.0.0.1:{free_port()} 127.0.0.1:{free_port()}"))
    assert report.failure.id == "seed-tcp"
    assert "REDIS_CLUSTER_NODES" in report.to_dict()["failure_settings"]


def test_a_seed_that_is_not_a_cluster_node_says_so(plain_redis) -> None:
    report = diagnose(plain_redis.settings_env(REDIS_HOST="", REDIS_CLUSTER_NODES=f"127.0.0.1:{plain_redis.port}"))
    assert report.failure.id == "cluster-info"
    assert "not in cluster mode" in report.failure.sentence
    assert "REDIS_CLUSTER_NODES" in report.failure.sentence


@pytest.mark.compat_cluster
def test_the_tls_cluster_is_verified_with_the_private_ca(tls_cluster) -> None:
    # 5 s per step: a dozen TLS handshakes on a loaded 2-core machine can outlast core's default 1 s.
    report = diagnose(tls_cluster.settings_env(REDIS_TIMEOUT="5000"))
    assert report.healthy, report.render_text()
    assert step(report, "seed-tls").status == "ok"
    plain = diagnose(tls_cluster.settings_env(REDIS_SSL="no", REDIS_TIMEOUT="5000"))
    assert plain.failure.id == "seed-auth", plain.render_text()
    assert "REDIS_SSL=yes" in plain.failure.sentence


def set_least_user(topology, rule: str) -> None:
    topology.set_user(LEAST_USER, LEAST_PASSWORD, rule)


@pytest.mark.compat_cluster
def test_the_least_privilege_rule_with_its_cluster_additions_passes_the_check(acl_cluster) -> None:
    set_least_user(acl_cluster, least_privilege_rule(cluster=True))
    report = diagnose(acl_cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD))
    assert report.healthy, report.render_text()
    assert LEAST_PASSWORD not in report.to_json()


@pytest.mark.compat_cluster
@pytest.mark.parametrize("missing", LEAST_PRIVILEGE_CLUSTER_COMMANDS)
def test_each_cluster_addition_is_needed_and_named_when_missing(acl_cluster, missing: str) -> None:
    set_least_user(acl_cluster, least_privilege_rule(without=missing, cluster=True))
    report = diagnose(acl_cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD))
    assert not report.healthy
    assert f"add +{missing} to its rule on every node" in report.failure.sentence


def test_a_node_announcing_an_address_this_machine_cannot_reach_is_named(redis_cluster) -> None:
    """The NAT/Docker mistake: the cluster's bus works, but clients are sent to an address (here a port) that is wrong."""
    master = redis_cluster.masters()[1]
    wrong = free_port()
    with master.client() as admin:
        admin.config_set("cluster-announce-bus-port", str(master.port + 10000))
        admin.config_set("cluster-announce-port", str(wrong))
    try:
        seed = next(node for node in redis_cluster.nodes if node is not master)
        with seed.client() as other:
            wait_until(lambda: f":{wrong}@" in other.execute_command("CLUSTER", "NODES").decode(), 10, "the new address to spread")
        report = diagnose(redis_cluster.settings_env(REDIS_CLUSTER_NODES=f"127.0.0.1:{seed.port}", REDIS_TIMEOUT="500"))
        assert report.failure is not None, report.render_text()
        assert report.failure.id == "cluster-nodes", report.render_text()
        assert f"master 127.0.0.1:{wrong} is announced by the cluster" in report.failure.sentence
        assert "cluster-announce-ip" in report.failure.sentence
    finally:
        with master.client() as admin:
            admin.config_set("cluster-announce-port", "0")
            admin.config_set("cluster-announce-bus-port", "0")
        with seed.client() as other:
            wait_until(lambda: f":{wrong}@" not in other.execute_command("CLUSTER", "NODES").decode(), 10, "the address back")


NODES = """\
a 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b 10.0.0.2:7000@17000,redis-b master - 0 0 2 connected 5461-10922 [10923->-c]
c 10.0.0.3:7000@17000 master,fail - 0 0 3 disconnected 10923-16000
d 10.0.0.4:7000@17000 slave a 0 0 1 connected
e 10.0.0.5:7000@17000 slave,fail b 0 0 2 disconnected
f 10.0.0.6:7000@17000 master,fail - 0 0 4 disconnected
"""


def test_shards_are_read_from_cluster_nodes_with_their_states() -> None:
    shards, others = shards_from_nodes(NODES)
    assert [(shard["master"]["address"], shard["slot_count"], shard["state"]) for shard in shards] == [
        ("10.0.0.1:7000", 5461, "ok"), ("10.0.0.2:7000", 5462, "no replica"), ("10.0.0.3:7000", 5078, "fail")]
    assert shards[0]["master"]["flags"] == ["master"]
    assert [node["address"] for node in others] == ["10.0.0.6:7000"]
    assert uncovered(shards) == [[16001, 16383]]
    assert uncovered([]) == [[0, ALL_SLOTS - 1]]
