"""BunkerWeb's steady-state connections (nginx workers × REDIS_KEEPALIVE_POOL × instances, 1.6.15's help) against the
server's maxclients: a finding with the numbers, on a real server."""

from __future__ import annotations

import os

import pytest

from harness.instances import StandInInstancesDatabase
from redissync.diagnose import diagnose
from redissync.diagnose.capacity import Capacity, capacity, instance_count, workers
from redissync.diagnose.protocol import facts_from_info


def test_workers_from_worker_processes_or_a_stated_assumption() -> None:
    assert workers({"WORKER_PROCESSES": "4"}) == (4, "WORKER_PROCESSES=4")
    count, source = workers({"WORKER_PROCESSES": "auto"})
    assert count == (os.cpu_count() or 1)
    assert f"assumed {count} (the scheduler's own core count)" in source
    assert workers({})[0] == count  # BunkerWeb's default is auto
    assert workers({"WORKER_PROCESSES": "0"})[0] == count


def test_the_warning_names_the_numbers_and_what_to_change() -> None:
    over = capacity({"WORKER_PROCESSES": "2"}, 64, 3, 100)
    assert over.expected == 384
    warning = over.warning()
    assert warning is not None
    assert "2 nginx workers × 64 (REDIS_KEEPALIVE_POOL) × 3 instances = 384 connections" in warning
    assert "above the server's maxclients 100" in warning and "BunkerWeb's database lists 3 instances" in warning
    assert "lower REDIS_KEEPALIVE_POOL, or raise maxclients" in warning
    assert "close to" in (capacity({"WORKER_PROCESSES": "2"}, 45, 1, 100).warning() or "")
    assert capacity({"WORKER_PROCESSES": "2"}, 10, 1, 100).warning() is None
    assert capacity({"WORKER_PROCESSES": "2"}, 10**6, 1, None).warning() is None  # unknown limit: no guess
    assert "maxclients unknown" in capacity({"WORKER_PROCESSES": "2"}, 64, None, None).note()
    assert "1 instance assumed" in capacity({}, 64, None, 10000).note()


def test_instance_count_from_bunkerweb_s_database() -> None:
    class Broken:
        def get_instances(self):
            raise RuntimeError("database is locked")

    assert instance_count(StandInInstancesDatabase([], extra_rows=[{"hostname": "a"}, {"hostname": "b"}])) == 2
    assert instance_count(None) is None
    assert instance_count(Broken()) is None


def test_maxclients_from_info_when_the_server_says_it() -> None:
    assert facts_from_info({"maxclients": "10000"}, None, 0)["maxclients"] == 10000
    assert facts_from_info({}, None, 0)["maxclients"] is None  # Redis 6.2: CONFIG GET maxclients is asked then
    assert isinstance(Capacity(1, "", 1, 1, "", None).note(), str)


def test_a_real_server_over_its_maxclients_is_a_warning_with_the_numbers(make_redis, bunkerweb_core_1616) -> None:
    server = make_redis(extra=["maxclients 100"])
    env = server.settings_env(REDISSYNC_BW_CORE_DIR=str(bunkerweb_core_1616), WORKER_PROCESSES="2")  # pool 64 by default
    report = diagnose(env, instances=1)
    assert report.healthy
    [warning] = [w for w in report.warnings if "maxclients" in w]
    assert "2 nginx workers × 64 (REDIS_KEEPALIVE_POOL) × 1 instances = 128 connections" in warning
    assert "above the server's maxclients 100" in warning
    fine = diagnose({**env, "REDIS_KEEPALIVE_POOL": "10"}, instances=1)
    assert not [w for w in fine.warnings if "maxclients" in w]
    assert any("about 2 nginx workers × 10 (REDIS_KEEPALIVE_POOL) × 1 instances = 20 connections, within maxclients 100"
               in note for note in fine.notes)


@pytest.mark.parametrize("instances", [2, 5])
def test_the_instances_multiply(make_redis, bunkerweb_core_1616, instances: int) -> None:
    server = make_redis(extra=["maxclients 1000"])
    env = server.settings_env(REDISSYNC_BW_CORE_DIR=str(bunkerweb_core_1616), WORKER_PROCESSES="4")
    report = diagnose(env, instances=instances)
    over = 4 * 64 * instances > 800
    assert bool([w for w in report.warnings if "maxclients 1000" in w]) is over
