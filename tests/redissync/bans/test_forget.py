"""Forgetting the journal on purpose: a deliberate FLUSHALL then clears bans for good."""

from __future__ import annotations

import pytest

from harness.bans import bans_state, write_ban
from redissync.bans.archive import open_journal
from redissync.bans.cycle import reconcile
from redissync.bans.forget import PassRunning, count, forget_all
from redissync.connection import connect
from redissync.keys import BANS_LOCK_KEY as LOCK_KEY
from redissync.settings import load_settings

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def run_pass(server):
    client = connect(load_settings(server.settings_env()))
    try:
        return reconcile(client, bans_state())
    finally:
        client.close()


def forget(server):
    client = connect(load_settings(server.settings_env()))
    try:
        return forget_all(client, bans_state())
    finally:
        client.close()


def test_dry_run_counts_and_changes_nothing(plain_redis) -> None:
    admin = plain_redis.client()
    for i in range(4):
        write_ban(admin, f"192.0.2.{i}", ttl=3600)
    run_pass(plain_redis)
    dry = count(bans_state())
    assert (dry.journaled, dry.live, dry.done) == (4, 4, False)
    assert dry.line().startswith("would forget 4 journaled bans (4 not expired)")
    assert "--yes" in dry.line()
    admin.flushall()
    assert run_pass(plain_redis).restored == 4  # the dry run forgot nothing


def test_forgotten_bans_never_come_back_after_a_flushall(plain_redis) -> None:
    admin = plain_redis.client()
    keys = [write_ban(admin, f"198.51.100.{i}", ttl=3600) for i in range(5)]
    run_pass(plain_redis)
    admin.flushall()
    done = forget(plain_redis)
    assert (done.journaled, done.live, done.done) == (5, 5, True)
    assert done.line().startswith("forgot 5")
    with open_journal(bans_state(), readonly=True) as journal:
        assert journal.count() == 0
    result = run_pass(plain_redis)
    assert (result.restored, result.seen) == (0, 0)
    assert not admin.exists(*keys)
    assert not admin.exists(LOCK_KEY)  # the lock was released


def test_refuses_while_a_pass_holds_the_lock(plain_redis) -> None:
    admin = plain_redis.client()
    write_ban(admin, "203.0.113.5", ttl=3600)
    run_pass(plain_redis)
    admin.set(LOCK_KEY, "another-scheduler", px=30_000)
    with pytest.raises(PassRunning, match="try again in a minute"):
        forget(plain_redis)
    assert count(bans_state()).journaled == 1
