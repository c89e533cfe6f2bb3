"""The bans pass while a Redis Cluster's slots move or a shard fails over: nothing lost, nothing undone."""

from __future__ import annotations

import pytest

from harness.bans import run_pass
from harness.servers import wait_until
from redissync.bans.shards import ClusterState, marker_key
from redissync.connection import connect
from redissync.settings import load_settings
from tests.redissync.bans.clusterbans import by_master, write_cluster_ban

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def owner_of(topology, slot: int) -> dict:
    return next(row for row in topology.rows() if "master" in row["flags"] and any(a <= slot <= b for a, b in row["slots"]))


def open_migration(topology, slot: int, target: dict) -> tuple[dict, dict]:
    """``CLUSTER SETSLOT … IMPORTING/MIGRATING`` as ``redis-cli --cluster reshard`` starts a slot's move."""
    source = owner_of(topology, slot)
    with topology.node_at(target["port"]).client() as node:
        node.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source["id"])
    with topology.node_at(source["port"]).client() as node:
        node.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target["id"])
    return source, target


def move_slot(topology, slot: int, target: dict) -> None:
    """A whole slot moved with its keys (MIGRATE), then given to ``target`` on every master: a finished reshard step."""
    source, target = open_migration(topology, slot, target)
    with topology.node_at(source["port"]).client() as node:
        keys = node.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
        if keys:
            node.execute_command("MIGRATE", "127.0.0.1", target["port"], "", 0, 5000, "KEYS", *keys)
    for master in topology.masters():
        with master.client() as node:
            node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target["id"])
    wait_until(lambda: owner_of(topology, slot)["id"] == target["id"], 10, f"slot {slot} served by its new master")


def shard_state(topology) -> ClusterState:
    client = connect(load_settings(topology.settings_env()))
    try:
        return ClusterState.read(client, None)
    finally:
        client.close()


def test_a_pass_during_an_open_migration_judges_nothing(redis_cluster) -> None:
    admin = redis_cluster.client()
    keys = [write_cluster_ban(admin, f"192.0.2.{i}") for i in range(30)]
    run_pass(redis_cluster)
    unbanned = keys[0]
    admin.delete(unbanned)
    slot = admin.keyslot(keys[1])
    target = next(row for row in redis_cluster.rows() if "master" in row["flags"] and row["id"] != owner_of(redis_cluster, slot)["id"])
    source, _ = open_migration(redis_cluster, slot, target)
    try:
        during = run_pass(redis_cluster)
        assert (during.unbans, during.restored, during.seen) == (0, 0, 29), during.line()
        assert during.verdict == "Redis changed during the pass; missing bans will be judged next pass"
    finally:
        for row in (source, target):
            with redis_cluster.node_at(row["port"]).client() as node:
                node.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
    after = run_pass(redis_cluster)
    assert (after.unbans, after.restored) == (1, 0), after.line()
    assert not admin.exists(unbanned)


def test_slots_moved_between_passes_keep_unbans_unbans(make_cluster) -> None:
    topology = make_cluster()
    admin = topology.client()
    keys = [write_cluster_ban(admin, f"198.51.100.{i}") for i in range(40)]
    run_pass(topology)
    markers = {admin.keyslot(marker_key(shard.tag)) for shard in shard_state(topology).shards}
    moved = next(key for key in keys if admin.keyslot(key) not in markers)
    slot = admin.keyslot(moved)
    target = next(row for row in topology.rows() if "master" in row["flags"] and row["id"] != owner_of(topology, slot)["id"])
    move_slot(topology, slot, target)
    assert moved in by_master(topology, keys)[target["port"]], "the ban moved with its slot"
    unbanned = next(key for key in keys if key != moved and admin.keyslot(key) not in markers)
    admin.delete(unbanned)
    result = run_pass(topology)
    assert (result.unbans, result.restored, result.seen) == (1, 0, 39), result.line()
    assert not admin.exists(unbanned)


def test_a_shard_whose_marker_slot_moved_away_restores_its_missing_bans(make_cluster) -> None:
    """Its marker no longer vouches for it: a flush cannot be told from unbans, so its missing bans come back (the safe
    mistake); the other shards' missing bans stay unbans, and the shard gets a marker in its own slots again."""
    topology = make_cluster()
    admin = topology.client()
    keys = [write_cluster_ban(admin, f"203.0.113.{i}") for i in range(60)]
    run_pass(topology)
    shard = shard_state(topology).shards[0]
    slot = admin.keyslot(marker_key(shard.tag))
    source = owner_of(topology, slot)
    target = next(row for row in topology.rows() if "master" in row["flags"] and row["id"] != source["id"])
    move_slot(topology, slot, target)
    held = by_master(topology, keys)
    lost_here = next(key for key in held[source["port"]])
    elsewhere = next(key for port, owned in held.items() if port != source["port"] for key in owned)
    admin.delete(lost_here, elsewhere)
    result = run_pass(topology)
    assert (result.restored, result.unbans) == (1, 1), result.line()
    assert "marker's slot moved" in result.verdict
    assert admin.exists(lost_here) and not admin.exists(elsewhere)
    markers = [key for master in topology.masters() for key in master.client().scan_iter("redissync:generation:*")]
    assert len(markers) == 3 and marker_key(shard.tag).encode() not in markers, "one per shard, the moved one replaced"
    again = run_pass(topology)
    assert (again.restored, again.unbans) == (0, 0) and again.verdict == "every shard (3) kept its data", again.line()


@pytest.mark.slow
def test_a_master_killed_and_its_replica_promoted_is_not_a_loss(make_cluster) -> None:
    topology = make_cluster()
    admin = topology.client()
    keys = [write_cluster_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(60)]
    run_pass(topology)
    victim = topology.masters()[0]
    replica = topology.replicas_of(victim)[0]
    # Not WAIT: it counts the writes of its own connection only, none here, and so answered 1 while a replica of the
    # new cluster was still in its first full sync (offset 0, no marker): it was promoted empty, a true loss.
    with victim.client() as master, replica.client() as node:
        offset = master.info("replication")["master_repl_offset"]
        wait_until(lambda: node.info("replication").get("slave_repl_offset", -1) >= offset, 10,
                   f"replica {replica.port} to hold every write of the pass (offset {offset})")
    held = by_master(topology, keys)
    unbanned = next(key for port, owned in held.items() if port != victim.port for key in owned)
    admin.delete(unbanned)
    topology.kill(victim)
    topology.wait_ready()
    with replica.client() as node:
        assert node.info("replication")["role"] == "master"
    result = run_pass(topology)
    assert (result.restored, result.unbans) == (0, 1), result.line()
    assert "promoted replica that had every write" not in result.verdict  # no shard lost: the verdict says so
    assert result.verdict == "every shard (3) kept its data", result.line()
    client = topology.client()
    assert all(client.exists(key) for key in keys if key != unbanned)


def test_a_master_restarted_empty_before_a_failover_restores_only_its_shards_bans(make_cluster) -> None:
    """The classic loss: a master without persistence restarts before its replica takes over, comes back empty under
    the same node id and slots, and its replica resyncs to that emptiness. Only that shard's bans come back, with
    their remaining TTLs; an unban on another shard stays an unban."""
    topology = make_cluster()
    admin = topology.client()
    keys = [write_cluster_ban(admin, f"198.51.100.{i}", ttl=3600) for i in range(60)]
    run_pass(topology)
    victim = topology.masters()[0]
    with topology.replicas_of(victim)[0].client() as node:
        node.config_set("cluster-replica-no-failover", "yes")  # the master is back before anyone takes over
    held = by_master(topology, keys)
    lost = held[victim.port]
    unbanned = next(key for port, owned in held.items() if port != victim.port for key in owned)
    admin.delete(unbanned)
    victim.stop(hard=True)
    victim.start()  # same port and nodes.conf: the same node and slots, no data
    topology.wait_ready()
    with victim.client() as node:
        assert node.dbsize() == 0 and node.info("replication")["role"] == "master"
    result = run_pass(topology)
    assert (result.restored, result.unbans) == (len(lost), 1), result.line()
    assert "no shard of the last pass carries on into it" in result.verdict, result.verdict
    assert all(3500_000 < admin.pttl(key) <= 3600_000 for key in lost), "restored with their remaining TTLs"
    assert not admin.exists(unbanned)
    again = run_pass(topology)
    assert (again.restored, again.unbans, again.new) == (0, 0, 0), again.line()
    assert again.verdict == "every shard (3) kept its data", again.line()
