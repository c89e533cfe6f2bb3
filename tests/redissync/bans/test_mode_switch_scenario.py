"""Issue 22's scenario: standalone → Redis Cluster → standalone with the same journal, bans surviving both ways.

Real servers: a standalone redis-server and the 3-master cluster, one state (directory, or BunkerWeb's job cache).
BunkerWeb's docs say a switch to cluster mode starts from an empty keyspace; the first pass in each mode writes the
journal's live bans under that mode's names with their remaining TTLs, and takes none of the old names for unbans.
"""

from __future__ import annotations

import json

import pytest

from harness.bans import bans_state, run_pass, write_ban
from harness.instances import StandInInstance, StandInInstancesDatabase
from harness.servers import free_port
from redissync.bans.archive import open_journal
from redissync.bans.cycle import reconcile
from redissync.bans.instances import BunkerWebInstances, StdlibApi
from redissync.connection import connect
from redissync.keys import BanKey
from redissync.settings import load_settings

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache

TIMED = [BanKey(f"198.51.100.{i}") for i in range(1, 25)]
PERMANENT = BanKey("2001:db8::42")
SCOPED = BanKey("192.0.2.9", "shop_{eu}%")  # escaped in cluster mode: bans_service_shop_%7Beu%7D%25_ip_{192.0.2.9}


def journaled() -> set[bytes]:
    with open_journal(bans_state(), readonly=True) as journal:
        return {entry.key for entry in journal.entries()}


def test_standalone_to_cluster_and_back_keeps_every_ban(plain_redis, redis_cluster) -> None:
    standalone, cluster = plain_redis.client(), redis_cluster.client()
    for ban in TIMED:
        write_ban(standalone, ban.ip, ttl=3600)
    write_ban(standalone, PERMANENT.ip, ttl=None)
    write_ban(standalone, SCOPED.ip, service=SCOPED.service, ttl=7200)
    values = {ban: json.loads(standalone.get(ban.key)) for ban in [*TIMED, PERMANENT, SCOPED]}
    assert run_pass(plain_redis).new == 26

    # to cluster mode: an empty keyspace, as BunkerWeb's docs say
    switched = run_pass(redis_cluster)
    assert "mode switch: 26 bans rewritten under cluster names" in switched.line()
    assert (switched.unbans, switched.counters_cleared, switched.restored) == (0, 0, 0)
    for ban, value in values.items():
        assert json.loads(cluster.get(ban.key_in(True))) == value
    assert cluster.pttl(PERMANENT.key_in(True)) == -1
    assert 3_590_000 < cluster.pttl(TIMED[0].key_in(True)) <= 3_600_000
    assert 7_190_000 < cluster.pttl("bans_service_shop_%7Beu%7D%25_ip_{192.0.2.9}") <= 7_200_000
    assert journaled() == {ban.key_in(True).encode() for ban in values}

    # life in cluster mode: an instance bans a new IP and lifts another ban
    fresh = BanKey("203.0.113.77")
    cluster.set(fresh.key_in(True), json.dumps({"reason": "antibot", "date": 1}), ex=1800)
    cluster.delete(TIMED[0].key_in(True))
    settled = run_pass(redis_cluster)
    assert (settled.new, settled.unbans, settled.mode_switch) == (1, 1, "")

    # back to standalone, on a server emptied meanwhile
    standalone.flushall()
    back = run_pass(plain_redis)
    assert "mode switch: 26 bans rewritten under standalone names" in back.line()
    assert (back.unbans, back.restored) == (0, 0)
    assert not standalone.exists(TIMED[0].key), "the ban lifted in cluster mode stays lifted"
    assert 1_790_000 < standalone.pttl(fresh.key) <= 1_800_000, "the ban made in cluster mode came along"
    assert standalone.pttl(PERMANENT.key) == -1
    assert json.loads(standalone.get(SCOPED.key)) == values[SCOPED]
    assert standalone.dbsize() - sum(1 for key in standalone.scan_iter("redissync:*")) == 26
    steady = run_pass(plain_redis)
    assert (steady.seen, steady.new, steady.changed, steady.unbans, steady.restored) == (26, 0, 0, 0, 0)
    cluster.close()


def test_an_unban_recorded_before_the_switch_still_blocks_an_instances_copy_after_it(plain_redis, redis_cluster) -> None:
    """An instance keeps its own copy of a ban it made (its datastore is its own); the journal recorded the ban's unban
    under the historical name. After the switch the instance's row maps to the cluster name: still the same unban."""
    instance = StandInInstance("bw-a", free_port()).start()  # its Redis writes fail: the ban stays local
    try:
        assert instance.ban("198.51.100.30", ttl=3600) is False
        source = BunkerWebInstances(StandInInstancesDatabase([instance]), StdlibApi, timeout=1)

        def run(env):
            client = connect(load_settings(env))
            try:
                return reconcile(client, bans_state(), instances=source)
            finally:
                client.close()

        assert run(plain_redis.settings_env()).instances.propagated == 1
        plain_redis.client().delete("bans_ip_198.51.100.30")  # unbanned through another instance
        unbanned = run(plain_redis.settings_env())
        assert (unbanned.unbans, unbanned.instances.unbanned_copies) == (1, 1), unbanned.line()
        switched = run(redis_cluster.settings_env())
        assert (switched.instances.propagated, switched.instances.unbanned_copies) == (0, 1), switched.line()
        assert not redis_cluster.client().exists("bans_ip_{198.51.100.30}")
    finally:
        instance.stop()
