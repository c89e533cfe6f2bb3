"""The jobs' figures, as published after real runs of the real job files (exec_module, os.environ, sys.exit):
counters monotonic across runs and across a scheduler replaced with an empty cache (BunkerWeb's job-cache
semantics, harness/bwjob.py), a failed run's figures delivered while Redis is down, and no secret in any
section. Every section goes through ``promtool check metrics``.

Where a section lands: outside BunkerWeb, ``<job>.prom`` in the state directory; inside, the POST each
instance of BunkerWeb's database receives (a stand-in instance here; redissync.lua in tests/confs).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from harness.bans import write_ban
from harness.instances import StandInInstance
from harness.jobrun import run_job_file
from harness.promtool import check_metrics, samples, value
from harness.servers import free_port
from tests.conftest import REDIS_PASSWORD

pytestmark = pytest.mark.usefixtures("job_cache_mode")
BANS = "redissync-bans"
COUNTERS = ("redissync_bans_restored_total", "redissync_bans_data_loss_events_total", "redissync_bans_unbans_propagated_total",
            "redissync_bans_local_only_propagated_total", "redissync_bans_lost_not_restored_total")
API_TOKEN = "Api-Token-Never-Shown-6d1e"


@pytest.fixture
def instance(plain_redis, job_cache_mode):
    """One stand-in instance in the stand-in BunkerWeb's database (inside BunkerWeb only)."""
    stand_in = StandInInstance("bw-1", plain_redis.port).start()
    if job_cache_mode is not None:
        job_cache_mode.db.add_instance("127.0.0.1", name="bw-1", port=stand_in.port, server_name="bwapi")
    yield stand_in
    stand_in.stop()


def published(job: str, job_cache_mode, instance: StandInInstance) -> str:
    """The section the job's last run published, checked by promtool."""
    if job_cache_mode is None:
        return check_metrics((Path(os.environ["REDISSYNC_STATE_DIR"]) / f"{job}.prom").read_text())
    return check_metrics(instance.figures[job])


def counters(text: str) -> dict[str, float]:
    return {name: value(text, name) for name in COUNTERS}


def test_ban_counters_are_monotonic_across_runs_and_a_replaced_scheduler(plain_redis, instance, job_cache_mode) -> None:
    client = plain_redis.client()
    env = plain_redis.settings_env()
    keys = [write_ban(client, f"192.0.2.{i}", ttl=3600) for i in range(3)]
    sections = []

    def run(expected_exit: int = 0) -> dict[str, float]:
        assert run_job_file(BANS, env) == expected_exit
        sections.append(published(BANS, job_cache_mode, instance))
        return counters(sections[-1])

    assert run() == dict.fromkeys(COUNTERS, 0)
    client.flushall()
    assert run()["redissync_bans_restored_total"] == 3
    client.delete(keys[0])  # an unban made somewhere in the cluster
    after_unban = run()
    assert (after_unban["redissync_bans_unbans_propagated_total"], after_unban["redissync_bans_data_loss_events_total"]) == (1, 1)
    assert run() == after_unban  # a quiet pass adds nothing
    if job_cache_mode is not None:
        job_cache_mode.replace_scheduler()  # a new container: the local cache is gone, the database copy remains
        assert run() == after_unban
        client.flushall()
        job_cache_mode.replace_scheduler()
        grown = run()
        assert (grown["redissync_bans_restored_total"], grown["redissync_bans_data_loss_events_total"]) == (5, 2)
    last = samples(sections[-1])
    assert last[("redissync_job_runs_total", frozenset({("job_name", BANS)}))] == len(sections)
    assert last[("redissync_bans_journaled", frozenset())] == 2
    assert last[("redissync_bans_journal_stored_bytes", frozenset())] > 0
    for earlier, later in itertools.pairwise(sections):  # every counter, every run: never down
        before, after = samples(earlier), samples(later)
        assert all(after[key] >= count for key, count in before.items() if key[0].endswith("_total"))


def test_a_failed_run_is_published_while_redis_is_down(plain_redis, instance, job_cache_mode) -> None:
    env = plain_redis.settings_env()
    assert run_job_file(BANS, env) == 0
    assert run_job_file("redissync-check", env) == 0
    check = published("redissync-check", job_cache_mode, instance)
    assert value(check, "redissync_diagnosis_healthy") == 1
    assert value(check, "redissync_diagnosis_step_failed", step="tcp") == 0
    assert value(check, "redissync_diagnosis_ping_seconds", stat="median") > 0
    succeeded = value(published(BANS, job_cache_mode, instance), "redissync_job_last_success_timestamp_seconds", job_name=BANS)
    plain_redis.stop()
    assert run_job_file(BANS, env) == 2
    assert run_job_file("redissync-check", env) == 2
    bans = published(BANS, job_cache_mode, instance)
    assert value(bans, "redissync_job_last_run_success", job_name=BANS) == 0
    assert value(bans, "redissync_job_failures_total", job_name=BANS) == 1
    assert value(bans, "redissync_job_last_success_timestamp_seconds", job_name=BANS) == succeeded
    assert value(bans, "redissync_job_last_run_timestamp_seconds", job_name=BANS) >= succeeded
    check = published("redissync-check", job_cache_mode, instance)
    assert value(check, "redissync_diagnosis_healthy") == 0
    assert value(check, "redissync_diagnosis_step_failed", step="tcp") == 1
    assert value(check, "redissync_job_last_run_success", job_name="redissync-check") == 0


def test_no_section_carries_a_secret(password_redis, instance, job_cache_mode) -> None:
    env = password_redis.settings_env(API_TOKEN=API_TOKEN)
    client = password_redis.client()
    write_ban(client, "192.0.2.7", ttl=600)
    client.set("metrics:badbehavior_counter_bans:0", "3")
    for job in ("redissync-check", BANS, "redissync-metrics", "redissync-sessions"):
        assert run_job_file(job, env) == 0
        text = published(job, job_cache_mode, instance)
        assert REDIS_PASSWORD not in text
        assert API_TOKEN not in text
        assert "127.0.0.1" not in text  # no address either: labels stay bounded
    assert value(published("redissync-metrics", job_cache_mode, instance), "redissync_metrics_keys_without_ttl") == 1
    assert value(published("redissync-sessions", job_cache_mode, instance), "redissync_sessions_live") == 0
    if job_cache_mode is not None:
        assert f"Bearer {API_TOKEN}" in instance.authorizations  # the token went where it belongs: the header


def test_sentinel_agreement(sentinel_topology, instance, job_cache_mode) -> None:
    assert run_job_file("redissync-check", sentinel_topology.settings_env()) == 0
    check = published("redissync-check", job_cache_mode, instance)
    assert (value(check, "redissync_sentinel_answers"), value(check, "redissync_sentinel_agreeing")) == (3, 3)
    assert value(check, "redissync_sentinel_agreement") == 1


def test_an_instance_that_does_not_take_the_figures_is_named_and_the_run_still_succeeds(plain_redis, instance, job_cache_mode,
                                                                                         captured_logs) -> None:
    if job_cache_mode is None:
        pytest.skip("instances exist only inside BunkerWeb")
    silent = free_port()  # nothing listens there
    job_cache_mode.db.add_instance("localhost", name="bw-2", port=silent, server_name="bwapi")
    assert run_job_file("redissync-metrics", plain_redis.settings_env()) == 0
    assert value(published("redissync-metrics", job_cache_mode, instance), "redissync_job_last_run_success",
                 job_name="redissync-metrics") == 1
    warnings = [r.getMessage() for r in captured_logs.records if "figures not delivered" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].endswith("figures not delivered to localhost (unreachable)")


def test_cluster_shards_from_the_check_job(redis_cluster, instance, job_cache_mode) -> None:
    assert run_job_file("redissync-check", redis_cluster.settings_env()) == 0
    check = published("redissync-check", job_cache_mode, instance)
    shards = {dict(labels)["shard"]: count for (name, labels), count in samples(check).items()
              if name == "redissync_cluster_shard_replicas"}
    assert len(shards) == 3 and set(shards.values()) == {1}  # 3 masters, one replica each
    assert all(value(check, "redissync_cluster_shard_up", shard=shard) == 1 for shard in shards)
    assert "127.0.0.1" not in check
