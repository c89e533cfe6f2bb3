"""The bans pass on a real Redis Cluster (3 masters, a replica each): every master read, loss judged per shard."""

from __future__ import annotations

import json

import pytest

from harness.bans import run_pass
from redissync.bans import counters
from redissync.bans.shards import ClusterState, marker_key
from redissync.connection import connect
from redissync.keys import bad_behavior_key
from redissync.settings import load_settings
from tests.redissync.bans.clusterbans import by_master, write_cluster_ban

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def test_the_pass_reads_the_bans_of_every_master(redis_cluster) -> None:
    admin = redis_cluster.client()
    keys = [write_cluster_ban(admin, f"192.0.2.{i}") for i in range(60)]
    keys += [write_cluster_ban(admin, f"198.51.100.{i}", service="shop.example.com", ttl=None) for i in range(30)]
    held = by_master(redis_cluster, keys)
    assert len(held) == 3 and all(held.values()), "the bans spread over the three masters"
    first = run_pass(redis_cluster)
    assert (first.seen, first.new, first.restored, first.unbans) == (90, 90, 0, 0), first.line()
    again = run_pass(redis_cluster)
    assert (again.seen, again.new, again.changed, again.restored, again.unbans) == (90, 0, 0, 0, 0), again.line()
    assert again.verdict == "every shard (3) kept its data"
    for master in redis_cluster.masters():  # one marker per shard, in that shard's own slots
        with master.client() as node:
            assert len([key for key in node.scan_iter("redissync:generation:*")]) == 1


def test_one_shard_flushed_restores_only_its_bans_and_an_unban_elsewhere_stays_an_unban(redis_cluster) -> None:
    admin = redis_cluster.client()
    keys = [write_cluster_ban(admin, f"203.0.113.{i}", ttl=3600) for i in range(60)]
    run_pass(redis_cluster)
    held = by_master(redis_cluster, keys)
    flushed_port, other_port = list(held)[:2]
    unbanned = held[other_port][0]
    admin.delete(unbanned)  # an unban on a healthy shard
    with redis_cluster.node_at(flushed_port).client() as node:
        node.flushall()
    result = run_pass(redis_cluster)
    assert result.restored == len(held[flushed_port]), result.line()
    assert result.unbans == 1, result.line()
    assert "shard" in result.verdict and "missing" in result.verdict
    for key in held[flushed_port]:
        assert 3500_000 < admin.pttl(key) <= 3600_000, "restored with its remaining TTL"
    assert not admin.exists(unbanned)
    assert all(admin.exists(key) for key in keys if key != unbanned)
    again = run_pass(redis_cluster)
    assert (again.restored, again.unbans, again.new) == (0, 0, 0), again.line()


def test_an_unban_clears_the_cluster_named_counters_and_a_later_restore_does_not_undo_it(redis_cluster) -> None:
    admin = redis_cluster.client()
    ip, other = "203.0.113.9", "203.0.113.10"
    global_key = write_cluster_ban(admin, ip)
    service_key = write_cluster_ban(admin, ip, service="shop{1}.example.com")  # escaped in the key: %7B1%7D
    kept = write_cluster_ban(admin, other)
    counters = [bad_behavior_key(ip, None, cluster=True), bad_behavior_key(ip, "shop{1}.example.com", cluster=True),
                bad_behavior_key(ip, "api.example.com", cluster=True)]  # a global unban clears every service's counter
    assert counters[:2] == [f"plugin_bad_behavior_{{{ip}}}", f"plugin_bad_behavior_shop%7B1%7D.example.com_{{{ip}}}"]
    for name in counters:
        admin.set(name, 4, ex=60)
    admin.set(bad_behavior_key(other, None, cluster=True), 5, ex=60)
    write_cluster_ban(admin, "198.51.100.1", service="api.example.com")  # the journal knows api.example.com
    run_pass(redis_cluster)
    admin.delete(global_key, service_key)  # BunkerWeb's unban
    result = run_pass(redis_cluster)
    assert (result.unbans, result.restored, result.counters_cleared) == (2, 0, 3), result.line()
    assert not any(admin.exists(name) for name in [global_key, service_key, *counters])
    assert admin.exists(kept) and admin.get(bad_behavior_key(other, None, cluster=True)) == "5"
    for master in redis_cluster.masters():  # every shard loses its data: only the live bans come back
        with master.client() as node:
            node.flushall()
    after = run_pass(redis_cluster)
    assert after.restored == 2, after.line()
    assert not admin.exists(global_key) and not admin.exists(service_key)
    assert json.loads(admin.get(kept))["ban_scope"] == "global"


def test_the_marker_of_each_shard_lands_in_its_own_slots(redis_cluster) -> None:
    write_cluster_ban(redis_cluster.client(), "192.0.2.1")
    run_pass(redis_cluster)
    client = connect(load_settings(redis_cluster.settings_env()))
    try:
        state = ClusterState.read(client, None)
    finally:
        client.close()
    assert state.covered and not state.moving and len(state.shards) == 3
    for shard in state.shards:
        assert shard.owns(redis_cluster.client().keyslot(marker_key(shard.tag)))
        assert shard.identity.marker, "created by the pass, read on its master"


def test_many_global_unbans_find_the_cluster_counters_by_scanning_every_master(redis_cluster, monkeypatch) -> None:
    """Past counters.BY_NAME_LIMIT names a scan is cheaper: on a cluster it walks every master and reads the IP in braces
    (the counters of a service without bans in the journal are found by the scan alone)."""
    monkeypatch.setattr(counters, "BY_NAME_LIMIT", 0)
    admin = redis_cluster.client()
    ips = [f"198.51.100.{i}" for i in range(12)]
    keys = [write_cluster_ban(admin, ip) for ip in ips]
    names = [bad_behavior_key(ip, service, cluster=True) for ip in ips for service in (None, "unknown.example.com")]
    for name in names:
        admin.set(name, 3, ex=60)
    admin.set(bad_behavior_key("203.0.113.1", None, cluster=True), 3, ex=60)  # not unbanned: kept
    write_cluster_ban(admin, "203.0.113.1", service="shop.example.com")  # a service in the journal: 12 x 1 names > 0
    run_pass(redis_cluster)
    admin.delete(*keys)
    result = run_pass(redis_cluster)
    assert (result.unbans, result.counters_cleared) == (12, 24), result.line()
    assert not any(admin.exists(name) for name in names)
    assert admin.exists(bad_behavior_key("203.0.113.1", None, cluster=True))
