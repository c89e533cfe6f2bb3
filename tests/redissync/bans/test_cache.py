"""Issue 16: everything the next pass relies on is cached every time it changes.

Inside BunkerWeb every job run starts from the database copy of its cache (harness/bwjob.py); these
tests run the real job entry file in both modes and check what the *next* run decides."""

from __future__ import annotations

import pytest

from harness.bans import bans_state, run_pass, write_ban
from harness.jobproc import spawn_job
from harness.jobrun import run_job_file
from redissync.bans import archive
from redissync.bans import index as journal_index
from redissync.bans.archive import open_journal
from redissync.bans.journal import Journal

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


def test_a_first_pass_that_dies_half_way_leaves_the_empty_journal_it_found(plain_redis, monkeypatch) -> None:
    """A journal every ban left (all unbanned) is the working copy the next run opens, its archive listing no ban. The
    next pass is a first pass again (bans/journal.py bulk_load, writing the index's and the archive's bases as it goes):
    dying half-way, it must leave that empty journal, its index base and its archive as they were."""
    admin = plain_redis.client()
    old = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(5)]
    run_pass(plain_redis)
    admin.delete(*old)
    assert run_pass(plain_redis).unbans == 5
    state = bans_state()
    with open_journal(state) as journal:
        assert journal.is_empty()
        before = (journal.meta_items(), state.read(archive.MANIFEST), sorted(state.names(archive.PREFIX)))
    keys = [write_ban(admin, f"10.1.{i // 250}.{i % 250}", ttl=3600) for i in range(1500)]
    upsert, written = Journal.upsert_rows, []

    def dies_at_the_second_batch(self: Journal, rows: list) -> int:
        if written:
            raise RuntimeError("the first pass dies half-way")
        written.append(upsert(self, rows))
        return written[0]

    monkeypatch.setattr(Journal, "upsert_rows", dies_at_the_second_batch)
    with pytest.raises(RuntimeError, match="half-way"):
        run_pass(plain_redis)
    monkeypatch.setattr(Journal, "upsert_rows", upsert)
    assert 0 < written[0] < len(keys), "rows were bulk-loaded before the pass died"
    state = bans_state()
    with open_journal(state) as journal:
        assert journal.is_empty() and journal.count() == 0
        assert (journal.meta_items(), state.read(archive.MANIFEST), sorted(state.names(archive.PREFIX))) == before
    result = run_pass(plain_redis)
    assert (result.seen, result.new, result.restored, result.unbans) == (1500, 1500, 0, 0), result.line()
    with open_journal(bans_state()) as journal:
        assert journal.count() == 1500
        index, based = journal_index.load(journal)
        assert based and set(index) == {journal_index.slot(key) for key in keys}
