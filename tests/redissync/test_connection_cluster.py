"""connection.make_cluster: redis-py's RedisCluster from REDIS_CLUSTER_NODES (one answering seed is enough), with TLS
verification and ACL users; explain() in cluster mode names REDIS_CLUSTER_NODES and the announced addresses."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError, RedisClusterException

from harness.acl import LEAST_PASSWORD, LEAST_USER, least_privilege_rule
from harness.servers import free_port
from redissync.connection import cluster_options, explain, make_cluster
from redissync.settings import load_settings


@pytest.mark.compat_cluster
def test_one_answering_seed_is_enough(redis_cluster) -> None:
    env = redis_cluster.settings_env(REDIS_CLUSTER_NODES=f"127.0.0.1:{free_port()} {redis_cluster.seeds(1)}")
    client = make_cluster(load_settings(env))
    try:
        client.set("bans_ip_{192.0.2.7}", "{}")
        assert len(client.get_primaries()) == 3
        assert client.ping(target_nodes=client.PRIMARIES) is True
    finally:
        client.close()
    assert redis_cluster.client().get("bans_ip_{192.0.2.7}") == "{}"


@pytest.mark.compat_cluster
def test_tls_is_verified_against_the_private_ca(tls_cluster) -> None:
    settings = load_settings(tls_cluster.settings_env())
    assert cluster_options(settings)["ssl_check_hostname"] is True
    client = make_cluster(settings)
    try:
        assert client.ping(target_nodes=client.PRIMARIES) is True
    finally:
        client.close()


@pytest.mark.compat_cluster
def test_an_acl_user_with_the_cluster_additions_works_on_every_master(acl_cluster) -> None:
    acl_cluster.set_user(LEAST_USER, LEAST_PASSWORD, least_privilege_rule(cluster=True))
    client = make_cluster(load_settings(acl_cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD)))
    try:
        for i in range(30):
            client.set(f"bans_ip_{{10.1.0.{i}}}", "{}", ex=600)
        assert sorted(client.scan_iter(match="bans_ip_*", count=100)) == sorted(f"bans_ip_{{10.1.0.{i}}}".encode() for i in range(30))
    finally:
        client.close()


@pytest.mark.compat_cluster
def test_cluster_errors_name_the_cluster_settings() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "10.0.0.1:7000"})
    no_seed = explain(RedisClusterException("Redis Cluster cannot be connected. Please provide at least one reachable node"),
                      settings)
    assert "REDIS_CLUSTER_NODES" in no_seed
    assert "+cluster|slots" in no_seed
    unreachable = explain(ConnectionError("Error 111 connecting to 10.0.0.9:7001. Connection refused."), settings)
    assert "cluster-announce-ip" in unreachable
    assert "REDIS_HOST" not in unreachable
