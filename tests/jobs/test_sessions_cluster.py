"""The sessions job and ``bwcli plugin redissync sessions`` on a real Redis Cluster (3 masters + 3 replicas): every
master counted, sessions without a TTL bounded one hash slot at a time, revoke in batches of UNLINKs per slot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.acl import LEAST_PASSWORD, LEAST_USER, least_privilege_rule
from harness.jobrun import run_bwcli, run_job_file
from redissync.connection import make_cluster
from redissync.keys import SESSIONS_SUMMARY_KEY
from redissync.sessions import revoke_sessions
from redissync.settings import load_settings

ALPHA, BETA = 40, 9


def seed(topology) -> None:
    client = topology.client()
    for index in range(ALPHA):
        client.set(f"sessions_:alpha:{index}", "x", ex=900)
    for index in range(BETA):
        client.set(f"sessions_:beta:{index}", "x")  # no TTL: the job bounds them
    client.set("bunkerweb_ui_session:1", "x", ex=900)
    client.hset("sessions_:alpha:hash", mapping={"a": "b"})  # not lua-resty-session's: skipped, never touched
    holders = [master.port for master in topology.masters() if master.client().keys("sessions_:*")]
    assert len(holders) == 3, "the seed must spread over every master"


def sessions_left(topology, cookie: str) -> int:
    return sum(len(master.client().keys(f"sessions_:{cookie}:*")) for master in topology.masters())


@pytest.mark.compat_cluster
def test_the_job_counts_and_bounds_on_every_master(redis_cluster, captured_logs) -> None:
    seed(redis_cluster)
    assert run_job_file("redissync-sessions", redis_cluster.settings_env(SESSIONS_ABSOLUTE_TIMEOUT="7200")) == 0, captured_logs.text
    summary = json.loads((Path(os.environ["REDISSYNC_STATE_DIR"]) / "sessions-summary.json").read_text())
    assert summary["live"] == ALPHA + BETA
    assert (summary["cookies"]["alpha"]["live"], summary["cookies"]["beta"]["live"]) == (ALPHA, BETA)
    assert summary["ui"]["live"] == 1
    assert (summary["no_ttl_found"], summary["bounded_now"]) == (BETA, BETA)
    assert summary["malformed"]["wrong_type"] == 1
    client = redis_cluster.client()
    assert all(7190 < client.ttl(f"sessions_:beta:{index}") <= 7200 for index in range(BETA))
    assert client.ttl("sessions_:alpha:hash") == -1
    assert json.loads(client.get(SESSIONS_SUMMARY_KEY)) == summary


@pytest.mark.compat_cluster
def test_bwcli_stats_and_revoke_across_masters(redis_cluster, capsys) -> None:
    seed(redis_cluster)
    env = redis_cluster.settings_env()
    assert run_bwcli("sessions.py", env, ["stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cookies"]["alpha"]["live"] == ALPHA
    assert run_bwcli("sessions.py", env, ["revoke", "--cookie", "alpha"]) == 0
    assert f"dry run: {ALPHA + 1} sessions of cookie 'alpha' would be revoked" in capsys.readouterr().out
    assert sessions_left(redis_cluster, "alpha") == ALPHA + 1
    assert run_bwcli("sessions.py", env, ["revoke", "--cookie", "alpha", "--yes"]) == 0
    assert f"revoked {ALPHA + 1} sessions of cookie 'alpha'" in capsys.readouterr().out
    assert sessions_left(redis_cluster, "alpha") == 0
    assert sessions_left(redis_cluster, "beta") == BETA


@pytest.mark.compat_cluster
def test_revoke_in_small_batches_deletes_each_key_once(redis_cluster) -> None:
    """Batches of 7 keys of one master each: an UNLINK per hash slot, all of a batch in one pipeline."""
    seed(redis_cluster)
    client = make_cluster(load_settings(redis_cluster.settings_env()))
    try:
        result = revoke_sessions(client, apply=True, batch_size=7)
    finally:
        client.close()
    assert (result.matched, result.deleted) == (ALPHA + 1 + BETA, ALPHA + 1 + BETA)
    assert sessions_left(redis_cluster, "*") == 0
    assert redis_cluster.client().exists("bunkerweb_ui_session:1") == 1, "the web UI's sessions are never revoked"


def test_the_least_privilege_user_runs_the_job_and_revokes(acl_cluster, capsys) -> None:
    rule = least_privilege_rule(cluster=True)
    for node in acl_cluster.nodes:
        with node.client() as admin:
            admin.execute_command("ACL", "SETUSER", LEAST_USER, "reset", "on", f">{LEAST_PASSWORD}", *rule.split())
    seed(acl_cluster)
    env = acl_cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD)
    assert run_job_file("redissync-sessions", env) == 0
    assert run_bwcli("sessions.py", env, ["revoke", "--yes"]) == 0
    assert sessions_left(acl_cluster, "*") == 0
    assert LEAST_PASSWORD not in capsys.readouterr().out
