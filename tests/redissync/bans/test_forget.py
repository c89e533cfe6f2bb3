"""Forgetting the journal on purpose: a deliberate FLUSHALL then clears bans for good."""

from __future__ import annotations

import pytest

from harness.bans import bans_state, run_pass, write_ban
from redissync.bans.archive import open_journal
from redissync.bans.forget import PassRunning, count, forget_all, forget_ip
from redissync.connection import connect
from redissync.keys import BANS_LOCK_KEY as LOCK_KEY
from redissync.settings import load_settings

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def with_client(server, work):
    client = connect(load_settings(server.settings_env()))
    try:
        return work(client)
    finally:
        client.close()


def forget(server):
    return with_client(server, lambda client: forget_all(client, bans_state()))


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


def test_forgetting_one_ip_lifts_its_bans_for_good_and_leaves_the_rest(plain_redis) -> None:
    admin = plain_redis.client()
    ip, neighbour, other = "192.0.2.1", "192.0.2.10", "198.51.100.3"  # the neighbour's name holds the IP's text
    forgotten = [write_ban(admin, ip, ttl=3600), write_ban(admin, ip, service="shop", ttl=None),
                 write_ban(admin, ip, service="blog", ttl=600)]
    kept = [write_ban(admin, neighbour, ttl=3600), write_ban(admin, other, service="shop", ttl=3600)]
    counters = [f"plugin_bad_behavior_{ip}", f"plugin_bad_behavior_shop_{ip}"]
    bystanders = [f"plugin_bad_behavior_{neighbour}", f"bans_cs_ip_{ip}", f"cs_epoch_{ip}"]  # CrowdSec's: never ours
    for key in counters + bystanders:
        admin.set(key, "3", ex=600)
    run_pass(plain_redis)

    dry = with_client(plain_redis, lambda client: forget_ip(client, bans_state(), ip, apply=False))
    assert (dry.journaled, dry.keys, dry.counters, dry.done) == (3, 3, 2, False)
    assert dry.line().startswith(f"would forget 3 journaled bans of {ip}, and its 3 ban keys and 2 bad-behaviour counters")
    assert admin.exists(*forgotten, *counters) == 5

    done = with_client(plain_redis, lambda client: forget_ip(client, bans_state(), ip, apply=True))
    assert (done.journaled, done.keys, done.counters, done.done) == (3, 3, 2, True)
    assert admin.exists(*forgotten, *counters) == 0
    assert admin.exists(*kept, *bystanders) == len(kept) + len(bystanders)
    assert not admin.exists(LOCK_KEY)
    with open_journal(bans_state(), readonly=True) as journal:
        assert {entry.key.decode() for entry in journal.entries()} == set(kept)
    after = run_pass(plain_redis)
    assert (after.unbans, after.restored, after.new) == (0, 0, 0)
    admin.flushall()  # data loss: the other bans come back, the forgotten ones do not
    assert run_pass(plain_redis).restored == len(kept)
    assert admin.exists(*forgotten) == 0


def test_forgetting_one_ip_refuses_while_a_pass_runs(plain_redis) -> None:
    admin = plain_redis.client()
    key = write_ban(admin, "203.0.113.9", ttl=3600)
    run_pass(plain_redis)
    admin.set(LOCK_KEY, "another-scheduler", px=30_000)
    with pytest.raises(PassRunning):
        with_client(plain_redis, lambda client: forget_ip(client, bans_state(), "203.0.113.9", apply=True))
    assert admin.exists(key)
