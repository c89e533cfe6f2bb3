"""The metrics job on a real Redis Cluster (3 masters + 3 replicas): every master's keys are read, BunkerWeb's cluster
names of the requests list and its facets (``{requests}``, rediskeys.lua 1.6.16~rc3), hygiene one slot at a time, and
core's METRICS_REDIS_TTL left alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.acl import LEAST_PASSWORD, LEAST_USER, least_privilege_rule
from harness.jobrun import run_job_file
from redissync.connection import make_cluster
from redissync.keys import METRICS_LOCK_KEY, METRICS_SUMMARY_KEY
from redissync.metrics.cycle import aggregate_pass
from redissync.metrics.hygiene import STALE_KEY_TTL_S
from redissync.settings import load_settings

NOW = 1_800_000_000.0
WORKERS = range(12)  # twelve keys of one series: their slots spread them over the three masters


def summary_file() -> Path:
    return Path(os.environ["REDISSYNC_STATE_DIR"]) / "metrics-summary.json"


def seed(topology) -> None:
    client = topology.client()
    for worker in WORKERS:
        client.set(f"metrics:badbehavior_counter_bans:{worker}", str(worker + 1))
        client.rpush(f"metrics:antibot_table_events:{worker}", "a", "b")
    client.rpush("{requests}", *["{}"] * 12)
    client.hset("{requests}:facet:ip", mapping={"192.0.2.1": 12})
    client.hset("{requests}:facet:country", mapping={"local": 12})
    client.set("requests", "a historical name BunkerWeb no longer writes in cluster mode")
    holders = [master.port for master in topology.masters() if master.client().keys("metrics:badbehavior_counter_bans:*")]
    assert len(holders) == 3, "the seed must spread over every master"


@pytest.mark.compat_cluster
def test_the_job_reads_every_master(redis_cluster, captured_logs) -> None:
    seed(redis_cluster)
    env = redis_cluster.settings_env(METRICS_MAX_BLOCKED_REQUESTS_REDIS="10")
    assert run_job_file("redissync-metrics", env) == 0, captured_logs.text
    summary = json.loads(summary_file().read_text())
    assert summary["counters"] == {"badbehavior": {"bans": sum(worker + 1 for worker in WORKERS)}}
    assert summary["tables"]["antibot"]["events"]["items"] == 2 * len(WORKERS)
    assert summary["workers"] == sorted(str(worker) for worker in WORKERS)
    assert summary["masters"] == 3
    assert summary["requests"] == {"cap": 10, "length": 12, "ttl": None, "wrong_type": False, "over_cap": 2,
                                   "facets": {"country": 1, "ip": 1}}
    assert summary["server"]["role"] == "cluster, 3 masters"
    assert summary["server"]["keys"]["metrics"] == 2 * len(WORKERS) + 4  # the lists, the facets and the old name
    client = redis_cluster.client()
    assert json.loads(client.get(METRICS_SUMMARY_KEY)) == summary
    assert not client.exists(METRICS_LOCK_KEY)
    assert "on 3 cluster masters" in captured_logs.text


@pytest.mark.compat_cluster
def test_hygiene_bounds_stale_keys_on_every_master_one_slot_at_a_time(redis_cluster) -> None:
    seed(redis_cluster)
    client = make_cluster(load_settings(redis_cluster.settings_env()))
    try:
        reports = [aggregate_pass(client, cap=10, now=NOW + 60 * minute, stale_after=1)["hygiene"] for minute in range(2)]
    finally:
        client.close()
    assert reports[1]["bounded_now"] == 2 * len(WORKERS)
    admin = redis_cluster.client()
    for worker in WORKERS:
        assert 0 < admin.ttl(f"metrics:badbehavior_counter_bans:{worker}") <= STALE_KEY_TTL_S
    assert admin.ttl("{requests}") == -1, "BunkerWeb's list is never bounded"


def test_with_metrics_redis_ttl_core_owns_the_lifetimes(redis_cluster, captured_logs) -> None:
    """BunkerWeb 1.6.14+ gives every metrics key METRICS_REDIS_TTL (0: keep them, with PERSIST): never fought."""
    seed(redis_cluster)
    env = redis_cluster.settings_env(METRICS_REDIS_TTL="0")
    for _ in range(3):
        assert run_job_file("redissync-metrics", env) == 0
    admin = redis_cluster.client()
    assert all(admin.ttl(f"metrics:badbehavior_counter_bans:{worker}") == -1 for worker in WORKERS)
    hygiene = json.loads(summary_file().read_text())["hygiene"]
    assert hygiene["applied"] is False and hygiene["bounded_now"] == 0
    assert "none bounded (METRICS_REDIS_TTL is BunkerWeb's)" in captured_logs.text


@pytest.mark.parametrize("without", [None, "~{requests}*"])
def test_the_least_privilege_rule_with_its_cluster_additions(acl_cluster, without, captured_logs) -> None:
    rule = least_privilege_rule(cluster=True, without=without)
    for node in acl_cluster.nodes:
        with node.client() as admin:
            admin.execute_command("ACL", "SETUSER", LEAST_USER, "reset", "on", f">{LEAST_PASSWORD}", *rule.split())
    seed(acl_cluster)
    env = acl_cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD)
    if without is None:
        assert run_job_file("redissync-metrics", env) == 0, captured_logs.text
        assert json.loads(summary_file().read_text())["requests"]["length"] == 12
    else:
        assert run_job_file("redissync-metrics", env) == 2
        assert "ACL user lacks a permission" in captured_logs.text
    assert LEAST_PASSWORD not in captured_logs.text
