"""redissync.lua in cluster mode, in a real nginx against a real Redis Cluster (3 masters + 3 replicas): the rendered
options carry the seed nodes; /redissync/ping and /redissync/stats ask each seed on its own pooled connection (AUTH
as the least-privilege user, TLS verified), say which answered and how fast; one answering seed is enough."""

from __future__ import annotations

import pytest

from harness.acl import LEAST_PASSWORD, LEAST_USER, least_privilege_rule
from harness.servers import free_port
from tests.confs.conftest import call
from tests.confs.test_nginx_lua import recorded
from tests.confs.test_redissync_api import init_worker_line

pytestmark = pytest.mark.nginx


def test_ping_and_stats_ask_every_seed_node(lua_nginx, redis_cluster) -> None:
    admin = redis_cluster.client()
    for index in range(30):
        admin.set(f"bans_ip_{{192.0.2.{index}}}", "{}")
    env = redis_cluster.settings_env(seeds=6)  # every node: masters and replicas
    server, rendered = lua_nginx(env)
    assert rendered.options == rendered.expected
    assert [f"{node['host']}:{node['port']}" for node in rendered.options["nodes"]] == env["REDIS_CLUSTER_NODES"].split()
    status, body = call(server, "POST", "/redissync/ping")
    assert status == 200, body
    ping = body["msg"]
    assert (ping["mode"], ping["role"], ping["seeds"], ping["answered"]) == ("cluster", "cluster", 6, 6)
    assert ping["target"] == f"cluster via seed nodes {env['REDIS_CLUSTER_NODES']}"
    roles = sorted(node["role"] for node in ping["nodes"])
    assert roles == ["master"] * 3 + ["slave"] * 3
    assert all(node["reachable"] and node["cluster_state"] == "ok" and 0 <= node["latency_ms"] < 1000 for node in ping["nodes"])
    assert ping["latency_ms"] == max(node["latency_ms"] for node in ping["nodes"])
    pools = {connection["connection_options"]["pool"] for connection in recorded(server)["connections"]}
    assert pools == {node["connection_options"]["pool"] for node in rendered.options["nodes"]}, "one pool per seed node"
    status, body = call(server, "GET", "/redissync/stats")
    assert status == 200, body
    stats = body["msg"]
    assert (stats["masters"], stats["dbsize"], stats["server_mode"]) == (3, 30, "cluster")
    assert stats["used_memory"] == sum(node["used_memory"] for node in stats["nodes"] if node["role"] == "master")
    line = init_worker_line(server)
    assert "Redis is reachable: cluster via seed nodes" in line and "(slowest of 6/6 seed nodes answering)" in line


def test_one_answering_seed_is_enough_and_the_others_are_named(lua_nginx, redis_cluster) -> None:
    dead = free_port()
    env = redis_cluster.settings_env(REDIS_CLUSTER_NODES=f"127.0.0.1:{dead} {redis_cluster.seeds(1)}")
    server, _ = lua_nginx(env)
    status, body = call(server, "POST", "/redissync/ping")
    assert status == 200, body
    nodes = body["msg"]["nodes"]
    assert (body["msg"]["answered"], nodes[0]["reachable"], nodes[1]["reachable"]) == (1, False, True)
    assert nodes[0]["node"] == f"127.0.0.1:{dead}" and "connection refused" in nodes[0]["error"]


def test_no_seed_answering_is_one_error_naming_each(lua_nginx) -> None:
    ports = [free_port(), free_port()]
    server, _ = lua_nginx({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": " ".join(f"127.0.0.1:{port}" for port in ports)})
    status, body = call(server, "POST", "/redissync/ping")
    assert status == 500
    assert body["msg"].startswith("no seed node of the cluster via seed nodes")
    assert all(f"127.0.0.1:{port}: connection refused" in body["msg"] for port in ports)
    assert "Redis is NOT reachable: no seed node" in init_worker_line(server)


def test_tls_cluster_verified_with_the_least_privilege_user(lua_nginx, acl_cluster, tls_cluster) -> None:
    """TLS verified against the test CA (the tls cluster); AUTH as the least-privilege user (the ACL cluster)."""
    server, _ = lua_nginx(tls_cluster.settings_env())
    status, body = call(server, "POST", "/redissync/ping")
    assert (status, body["msg"]["answered"]) == (200, 3), body
    assert body["msg"]["tls"] == "TLS, chain verified, hostname not checked (IP address)"
    for node in acl_cluster.nodes:
        with node.client() as admin:
            admin.execute_command("ACL", "SETUSER", LEAST_USER, "reset", "on", f">{LEAST_PASSWORD}",
                                  *least_privilege_rule(cluster=True).split())
    server, _ = lua_nginx(acl_cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD))
    status, body = call(server, "GET", "/redissync/stats")
    assert (status, body["msg"]["answered"]) == (200, 3), body
    assert all(node["cluster_state"] == "ok" for node in call(server, "POST", "/redissync/ping")[1]["msg"]["nodes"])
    assert LEAST_PASSWORD not in server.log_text()
