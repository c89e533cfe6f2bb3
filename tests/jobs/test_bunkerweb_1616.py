"""A BunkerWeb 1.6.16 install, as a new user gets it: core redis's plugin.json of 1.6.16~rc3 (verbatim, in
tests/data) with its defaults REDIS_TIMEOUT=1s, REDIS_KEEPALIVE_IDLE=30s, REDIS_KEEPALIVE_POOL=64. Before the
durations rule every job exited 2 here ("REDIS_TIMEOUT='1s' is invalid")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bans import bans_state, write_ban
from harness.jobrun import run_bwcli, run_job_file
from tests.conftest import REDIS_PASSWORD

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache
JOBS = ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions")


def test_every_job_exits_0_on_1616_defaults(password_redis, bunkerweb_core_1616: Path, captured_logs) -> None:
    env = password_redis.settings_env(REDISSYNC_BW_CORE_DIR=str(bunkerweb_core_1616))
    assert not {"REDIS_TIMEOUT", "REDIS_KEEPALIVE_IDLE", "REDIS_KEEPALIVE_POOL"} & set(env)  # core's defaults apply
    ban = write_ban(password_redis.client(), "192.0.2.7", ttl=3600)
    assert {job: run_job_file(job, env) for job in JOBS} == dict.fromkeys(JOBS, 0), captured_logs.text
    report = json.loads((bans_state().directory / "check-report.json").read_text())
    assert report["state"] == "healthy", report
    assert (report["settings"]["timeout_s"], report["settings"]["keepalive_idle_s"], report["settings"]["keepalive_pool"]) == (
        1.0, 30.0, 64)
    password_redis.client().flushall()
    assert run_job_file("redissync-bans", env) == 0
    assert password_redis.client().exists(ban)  # the journaled ban came back: the bans pass really ran
    assert "is invalid" not in captured_logs.text
    assert REDIS_PASSWORD not in captured_logs.text


def test_bwcli_check_is_healthy_on_1616_defaults(password_redis, bunkerweb_core_1616: Path, capsys) -> None:
    env = password_redis.settings_env(REDISSYNC_BW_CORE_DIR=str(bunkerweb_core_1616))
    assert run_bwcli("check.py", env, []) == 0
    assert "timeout 1000 ms, pool 64" in capsys.readouterr().out


def test_a_refused_duration_fails_every_job_with_one_line_naming_it(password_redis, bunkerweb_core_1616: Path,
                                                                    captured_logs) -> None:
    env = password_redis.settings_env(REDISSYNC_BW_CORE_DIR=str(bunkerweb_core_1616), REDIS_TIMEOUT="1h30m")
    for job in JOBS:
        captured_logs.clear()
        assert run_job_file(job, env) == 2
        lines = [r.getMessage() for r in captured_logs.records if "REDIS_TIMEOUT='1h30m' is invalid" in r.getMessage()]
        assert len(lines) == 1, (job, captured_logs.text)


def test_the_check_counts_the_instances_bunkerweb_lists(make_redis, bunkerweb_core_1616: Path, job_cache_mode,
                                                        captured_logs) -> None:
    """1.6.15's pool default (64) × workers × instances against maxclients: the instances come from BunkerWeb's database."""
    server = make_redis(extra=["maxclients 300"])
    env = server.settings_env(REDISSYNC_BW_CORE_DIR=str(bunkerweb_core_1616), WORKER_PROCESSES="2")
    if job_cache_mode is not None:
        for n in range(3):
            job_cache_mode.db.add_instance(f"10.0.0.{n + 1}", port=5000, server_name="bwapi")
    assert run_job_file("redissync-check", env) == 0
    report = json.loads((bans_state().directory / "check-report.json").read_text())
    if job_cache_mode is None:  # outside BunkerWeb: one instance assumed, 128 of 300 is fine
        assert any("2 nginx workers × 64 (REDIS_KEEPALIVE_POOL) × 1 instances = 128 connections, within maxclients 300"
                   in note for note in report["notes"])
    else:
        assert any("× 3 instances = 384 connections, are above the server's maxclients 300" in w for w in report["warnings"])
        assert "BunkerWeb's database lists 3 instances" in captured_logs.text
