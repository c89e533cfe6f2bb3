"""Issue 16: everything the next pass relies on is cached every time it changes.

Inside BunkerWeb every job run starts from the database copy of its cache (harness/bwjob.py); these
tests run the real job entry file in both modes and check what the *next* run decides."""

from __future__ import annotations

import pytest

from harness.bans import write_ban
from harness.jobproc import spawn_job
from harness.jobrun import run_job_file

pytestmark = pytest.mark.usefixtures("job_cache_mode")


def run(env: dict[str, str]) -> None:
    assert run_job_file("redissync-bans", env) == 0


def test_unban_after_a_restore_holds_for_the_next_passes(plain_redis) -> None:
    admin = plain_redis.client()
    env = plain_redis.settings_env()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(5)]
    run(env)  # journaled
    admin.flushall()
    run(env)  # restored: the journal's rows did not change, its record of Redis did
    assert all(admin.exists(key) for key in keys)
    admin.delete(keys[0])  # the administrator unbans one (BunkerWeb's POST /unban)
    run(env)
    assert not admin.exists(keys[0]), "the unban made after a restore was undone by the next pass"
    run(env)
    assert not admin.exists(keys[0])
    assert all(admin.exists(key) for key in keys[1:])


def test_crash_before_caching_restores_again_and_loses_nothing(plain_redis, job_cache_mode) -> None:
    admin = plain_redis.client()
    env = plain_redis.settings_env()
    keys = [write_ban(admin, f"198.51.100.{i}", ttl=3600) for i in range(20)]
    keys.append(write_ban(admin, "198.51.100.99", ttl=None))
    run(env)
    admin.flushall()
    # The restoring pass dies (SIGKILL) at its first upload to the job cache, after writing Redis.
    job = spawn_job("redissync-bans", {**env, "REDISSYNC_TEST_DIE_AT_UPLOAD": "bans-"})
    job.communicate(timeout=60)
    assert all(admin.exists(key) for key in keys), "the killed pass had restored the bans before its upload"
    admin.flushall()  # and Redis loses them again before the next pass
    run(env)  # the safe mistake: the next pass still judges from the record before the crash, and restores
    assert all(admin.exists(key) for key in keys)
    assert admin.pttl(keys[-1]) == -1
    assert 3500_000 < admin.pttl(keys[0]) <= 3600_000
