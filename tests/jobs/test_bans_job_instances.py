"""The real ``redissync-bans`` job entry and the instances: asked inside BunkerWeb only, under BunkerWeb's
job-cache semantics (harness/bwjob.py: every run starts from the database copy of the cache)."""

from __future__ import annotations

import time

import pytest

from harness.instances import StandInInstance
from harness.jobrun import run_job_file
from redissync.bans import local_only

pytestmark = pytest.mark.usefixtures("job_cache_mode")


@pytest.fixture
def instance(plain_redis, job_cache_mode):
    """One stand-in instance, listed in the stand-in BunkerWeb's database (none outside BunkerWeb)."""
    stand_in = StandInInstance("bw-1", plain_redis.port).start()
    if job_cache_mode is not None:
        job_cache_mode.db.add_instance("127.0.0.1", name="bw-1", port=stand_in.port, server_name="bwapi")
    yield stand_in
    stand_in.stop()


def test_a_local_only_ban_is_shared_inside_bunkerweb_only(plain_redis, instance, job_cache_mode, captured_logs) -> None:
    env = plain_redis.settings_env()
    assert run_job_file("redissync-bans", env) == 0
    plain_redis.stop()
    instance.ban("198.51.100.80", ttl=900)  # Redis down: local to bw-1
    plain_redis.start()
    assert run_job_file("redissync-bans", env) == 0
    shared = plain_redis.client().exists("bans_ip_198.51.100.80")
    if job_cache_mode is None:  # outside BunkerWeb there is no instance list: the pass is as it always was
        assert not shared
        assert "local-only" not in captured_logs.text
    else:
        assert shared
        assert "1 local-only bans propagated from 1 instances (1/1 answered)" in captured_logs.text


def test_a_waiting_permanent_copy_survives_the_cache_restore(plain_redis, instance, job_cache_mode, monkeypatch) -> None:
    if job_cache_mode is None:
        pytest.skip("instances exist only inside BunkerWeb")
    offset = [0.0]
    monkeypatch.setattr(local_only, "wall_ms", lambda: int((time.time() + offset[0]) * 1000))
    env = plain_redis.settings_env()
    assert run_job_file("redissync-bans", env) == 0
    plain_redis.stop()
    instance.ban("198.51.100.81", ttl=None)  # permanent, local to bw-1: could be a 30 s cache copy
    plain_redis.start()
    assert run_job_file("redissync-bans", env) == 0
    assert not plain_redis.client().exists("bans_ip_198.51.100.81")
    assert local_only.MEMORY_NAME in job_cache_mode.cached(), "the waiting copy must be in BunkerWeb's database"
    offset[0] = 40  # the next run, past the cache window: the Job restores the cache from the database first
    assert run_job_file("redissync-bans", env) == 0
    assert plain_redis.client().ttl("bans_ip_198.51.100.81") == -1
