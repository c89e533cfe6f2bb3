"""jobs/redissync-bans.py on a real Redis Cluster, run as BunkerWeb runs it: the least-privilege user with its cluster
additions, and TLS with verification."""

from __future__ import annotations

import json
import logging

import pytest

from harness.acl import LEAST_PASSWORD, LEAST_USER, least_privilege_rule
from harness.bans import bans_state
from harness.jobrun import run_job_file
from redissync.bans.archive import open_journal
from tests.redissync.bans.clusterbans import by_master, write_cluster_ban

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def flush_one_shard_and_pass(topology, env: dict[str, str]) -> None:
    admin = topology.client()
    keys = [write_cluster_ban(admin, f"192.0.2.{i}") for i in range(45)]
    keys.append(write_cluster_ban(admin, "192.0.2.200", service="app.example.com", ttl=None))
    assert run_job_file("redissync-bans", env) == 0
    held = by_master(topology, keys)
    port = next(port for port, owned in held.items() if owned)
    with topology.node_at(port).client() as node:
        node.flushall()
    assert run_job_file("redissync-bans", env) == 0
    assert all(admin.exists(key) for key in keys)
    with open_journal(bans_state(), readonly=True) as journal:
        assert journal.count() == 46
    summary = json.loads((bans_state().directory / "bans-summary.json").read_text())
    assert summary["last_pass"]["restored"] == len(held[port])


@pytest.mark.compat_cluster
def test_the_job_as_the_least_privilege_user(acl_cluster, captured_logs) -> None:
    acl_cluster.set_user(LEAST_USER, LEAST_PASSWORD, least_privilege_rule(cluster=True))
    flush_one_shard_and_pass(acl_cluster, acl_cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD))
    assert "data loss: shard" in captured_logs.text
    assert LEAST_PASSWORD not in captured_logs.text


def test_the_job_over_tls_with_verification(tls_cluster) -> None:
    flush_one_shard_and_pass(tls_cluster, tls_cluster.settings_env())


def test_without_cluster_nodes_the_job_fails_naming_it(acl_cluster, captured_logs) -> None:
    acl_cluster.set_user(LEAST_USER, LEAST_PASSWORD, least_privilege_rule(cluster=True, without="cluster|nodes"))
    write_cluster_ban(acl_cluster.client(), "192.0.2.1")
    env = acl_cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD)
    assert run_job_file("redissync-bans", env) == 2
    [error] = [record.getMessage() for record in captured_logs.records if record.levelno >= logging.ERROR]
    assert "the ACL user lacks a permission" in error and "'cluster|nodes'" in error, error
