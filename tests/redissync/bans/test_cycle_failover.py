"""The hard case: a Sentinel failover to a replica that missed the last writes.

Bans the job journaled after the replica's last sync are absent from the promoted replica; they must be
restored, not mistaken for unbans."""

from __future__ import annotations

import json

import pytest

from harness.bans import bans_state, write_ban
from harness.servers import wait_until
from redissync.bans.cycle import reconcile
from redissync.connection import connect
from redissync.settings import load_settings

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def test_failover_to_lagging_replica_restores_missed_bans(sentinel_topology) -> None:
    topology = sentinel_topology
    settings = load_settings(topology.settings_env(REDIS_TIMEOUT="2000"))
    master = topology.master.client()
    synced = [write_ban(master, f"192.0.2.{i}", ttl=3600) for i in range(10)]
    client = connect(settings)
    assert reconcile(client, bans_state()).new == 10
    client.close()
    replica = topology.replica.client()
    wait_until(lambda: replica.info("replication")["slave_repl_offset"] == master.info("replication")["master_repl_offset"],
               10, "the replica to catch up")

    topology.replica.pause()
    master.client_kill_filter(_type="slave")  # nothing more reaches the replica, not even buffered bytes
    missed = [write_ban(master, f"198.51.100.{i}", ttl=1800) for i in range(15)]
    missed.append(write_ban(master, "198.51.100.200", service="shop_ip_store", ttl=None))
    client = connect(settings)
    seen = reconcile(client, bans_state())  # the job saw them on the master: they are in the journal
    client.close()
    assert seen.new == 16
    old_port = topology.master.port
    topology.master.stop(hard=True)
    topology.replica.resume()
    promoted = topology.wait_for_promotion(old_port)

    admin = promoted.client()
    assert not any(admin.exists(key) for key in missed)
    client = connect(settings)
    result = reconcile(client, bans_state())
    client.close()
    assert result.restored == 16, result.line()
    assert result.unbans == 0, result.line()
    assert "missed" in result.verdict
    for key in missed[:-1]:
        assert 1700_000 < admin.pttl(key) <= 1800_000
    assert admin.pttl(missed[-1]) == -1
    assert json.loads(admin.get(missed[-1]))["ban_scope"] == "service"
    assert all(admin.exists(key) for key in synced)
