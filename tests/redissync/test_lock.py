"""The pass lock: short, renewed while the pass runs, never renewed or released once another holder has it."""

from __future__ import annotations

import logging
import time

from harness.bans import write_ban
from harness.servers import wait_until
from redissync.bans import cycle as bans
from redissync.bans.cycle import reconcile
from redissync.keys import BANS_LOCK_KEY as LOCK_KEY
from redissync.lock import LOCK_MS, PassLock
from redissync.state import open_state

# Short enough to test renewal in seconds, long enough that a renewal a second late on a loaded CI (2 busy
# cores, a parallel suite) still lands before the TTL runs out: renewed every TTL / 3 = 500 ms.
TEST_TTL_MS = 1_500


def test_the_bans_lock_is_short_so_a_killed_pass_frees_it_within_30_s(plain_redis) -> None:
    admin = plain_redis.client()
    lock = PassLock(admin, LOCK_KEY, "token", LOCK_MS)
    assert lock.acquire()
    try:
        assert LOCK_MS <= 30_000
        assert 0 < admin.pttl(LOCK_KEY) <= LOCK_MS
    finally:
        lock.release()
    assert not admin.exists(LOCK_KEY)


def test_the_lock_is_renewed_while_held(plain_redis) -> None:
    admin = plain_redis.client()
    lock = PassLock(plain_redis.client(), "redissync:lock:test", "mine", ttl_ms=TEST_TTL_MS)
    started = time.monotonic()
    assert lock.acquire()
    wait_until(lambda: lock.renewals >= 4 and time.monotonic() - started > 2 * TEST_TTL_MS / 1000, 30, "the lock to outlive two TTLs")
    assert admin.get("redissync:lock:test") == b"mine"
    assert 0 < admin.pttl("redissync:lock:test") <= TEST_TTL_MS
    assert not lock.lost
    lock.release()
    assert not admin.exists("redissync:lock:test")


def test_a_lock_taken_over_is_neither_renewed_nor_released(plain_redis) -> None:
    admin = plain_redis.client()
    lock = PassLock(plain_redis.client(), "redissync:lock:test", "mine", ttl_ms=TEST_TTL_MS)
    assert lock.acquire()
    admin.set("redissync:lock:test", "theirs", px=60_000)  # ours expired and another scheduler took it
    wait_until(lambda: lock.lost, 10, "the renewal to notice the lock is gone")
    lock.release()
    assert admin.get("redissync:lock:test") == b"theirs"
    assert admin.pttl("redissync:lock:test") > 50_000


def test_a_long_pass_keeps_its_lock_past_the_ttl(plain_redis, monkeypatch) -> None:
    admin = plain_redis.client()
    write_ban(admin, "192.0.2.7", ttl=3600)
    monkeypatch.setattr(bans, "LOCK_MS", TEST_TTL_MS)
    absorb = bans.absorb
    outlived: list[bool] = []

    def slow_absorb(*args):
        started = time.monotonic()
        # the pass is "busy" for more than three TTLs; the lock must still be ours all along
        wait_until(lambda: time.monotonic() - started > 3 * TEST_TTL_MS / 1000 and admin.exists(LOCK_KEY), 30,
                   "the lock to outlive its TTL")
        outlived.append(0 < admin.pttl(LOCK_KEY) <= TEST_TTL_MS)
        return absorb(*args)

    monkeypatch.setattr(bans, "absorb", slow_absorb)
    result = reconcile(plain_redis.client(), open_state(), logging.getLogger("test"))
    assert outlived == [True]
    assert result.seen == 1
    assert "lost" not in result.verdict
    assert not admin.exists(LOCK_KEY)


def test_a_pass_that_lost_its_lock_judges_no_missing_ban(plain_redis, monkeypatch) -> None:
    admin = plain_redis.client()
    write_ban(admin, "192.0.2.8", ttl=3600)
    unbanned = write_ban(admin, "192.0.2.9", ttl=3600)
    admin.set("plugin_bad_behavior_192.0.2.9", "3")
    reconcile(plain_redis.client(), open_state())
    admin.delete(unbanned)
    monkeypatch.setattr(bans, "LOCK_MS", 300)
    held: list[PassLock] = []
    acquire, absorb = PassLock.acquire, bans.absorb

    def capture(self: PassLock) -> bool:
        held.append(self)
        return acquire(self)

    def absorb_then_lose_the_lock(*args):
        admin.set(LOCK_KEY, "another-scheduler", px=60_000)  # ours expired, another scheduler took it
        wait_until(lambda: held[0].lost, 10, "the renewal to notice the lock is gone")
        return absorb(*args)

    monkeypatch.setattr(PassLock, "acquire", capture)
    monkeypatch.setattr(bans, "absorb", absorb_then_lose_the_lock)
    result = reconcile(plain_redis.client(), open_state())
    assert "lost" in result.verdict
    assert result.unbans == 0
    assert admin.get(LOCK_KEY) == b"another-scheduler"
    assert admin.exists("plugin_bad_behavior_192.0.2.9")
    monkeypatch.setattr(bans, "absorb", absorb)  # (not monkeypatch.undo(): it would also drop the state dir)
    admin.delete(LOCK_KEY)
    later = reconcile(plain_redis.client(), open_state())  # the lock holder's turn: the unban is judged now
    assert later.unbans == 1
    assert not admin.exists("plugin_bad_behavior_192.0.2.9")
