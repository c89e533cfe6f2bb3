"""Bans only an instance holds, on a Redis Cluster: ``GET /bans`` rows name IPs, written under the cluster names."""

from __future__ import annotations

import json

import pytest

from harness.instances import StandInInstance, StandInInstancesDatabase
from harness.servers import free_port
from redissync.bans import reconcile
from redissync.bans.archive import open_journal
from redissync.bans.instances import BunkerWebInstances, StdlibApi
from redissync.connection import connect
from redissync.keys import BanKey
from redissync.settings import load_settings
from redissync.state import open_state

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # a plain state dir, and BunkerWeb's job cache


def test_an_instance_only_ban_is_written_under_the_cluster_name_and_its_unban_is_not_undone(redis_cluster) -> None:
    instance = StandInInstance("bw-a", free_port()).start()  # its Redis writes fail: the bans stay local
    try:
        assert instance.ban("198.51.100.20", ttl=3600) is False
        assert instance.ban("198.51.100.21", service="shop.example.com", ttl=3600) is False
        source = BunkerWebInstances(StandInInstancesDatabase([instance]), StdlibApi, timeout=1)

        def run():
            client = connect(load_settings(redis_cluster.settings_env()))
            try:
                return reconcile(client, open_state(), instances=source)
            finally:
                client.close()

        admin = redis_cluster.client()
        result = run()
        assert result.instances is not None and result.instances.propagated == 2, result.line()
        global_key = BanKey("198.51.100.20").key_in(cluster=True)
        service_key = BanKey("198.51.100.21", "shop.example.com").key_in(cluster=True)
        assert (global_key, service_key) == ("bans_ip_{198.51.100.20}", "bans_service_shop.example.com_ip_{198.51.100.21}")
        assert 3590 <= admin.ttl(global_key) <= 3600
        assert json.loads(admin.get(service_key))["ban_scope"] == "service"
        assert not admin.exists("bans_ip_198.51.100.20"), "never the historical name in cluster mode"
        with open_journal(open_state(), readonly=True) as journal:
            assert journal.known([global_key.encode(), service_key.encode()]) == {global_key.encode(), service_key.encode()}
        again = run()
        assert (again.instances.propagated, again.new, again.seen) == (0, 0, 2), again.line()
        admin.delete(global_key)  # unbanned through another instance; bw-a still lists its local copy
        after = run()
        assert (after.unbans, after.instances.propagated, after.instances.unbanned_copies) == (1, 0, 1), after.line()
        assert not admin.exists(global_key)
    finally:
        instance.stop()
