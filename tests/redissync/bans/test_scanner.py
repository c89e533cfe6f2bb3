"""Bulk ban reads: the script and the no-scripting pipeline agree, batches carry the time Redis answered,
and restores work with and without scripting."""

from __future__ import annotations

import time

import redis

from redissync.bans import cycle as bans
from redissync.bans.archive import open_journal
from redissync.bans.cycle import reconcile, restore
from redissync.bans.journal import Entry
from redissync.bans.scanner import MAX_VALUE_BYTES, WRONG_TYPE, BanScanner
from redissync.state import open_state
from tests.bed.bans import write_ban


def no_script_client(server) -> redis.Redis:
    """A user that may do everything but run scripts (an ACL without +@scripting)."""
    server.client().execute_command("ACL", "SETUSER", "noscript", "reset", "on", ">noscript-pw", "~*", "+@all", "-@scripting")
    return redis.Redis(host="127.0.0.1", port=server.port, username="noscript", password="noscript-pw", protocol=2, socket_timeout=5)


def seed(admin) -> None:
    for i in range(50):
        write_ban(admin, f"192.0.2.{i}", ttl=None if i % 10 == 0 else 3600)
    write_ban(admin, "192.0.2.200", service="app_ip_v2", ttl=3600)
    admin.set("bans_ip_192.0.2.201", b"x" * (MAX_VALUE_BYTES + 10), ex=3600)  # travels as its length, then fetched
    admin.hset("bans_ip_192.0.2.202", "reason", "wrong type")
    admin.set("bans_other_thing", "not a ban key")  # matches bans_* but is not a ban
    admin.set("bans_service_x", "not a ban key either")


def read_all(scanner: BanScanner) -> dict[bytes, tuple]:
    found = {}
    for stamp, flat in scanner.batches():
        assert len(flat) % 3 == 0
        assert stamp <= time.time_ns() // 1_000_000
        for i in range(0, len(flat), 3):
            found[flat[i]] = (flat[i + 1], -1 if flat[i + 2] < 0 else round(flat[i + 2], -5))
    return found


def test_script_and_pipeline_read_the_same_bans(plain_redis) -> None:
    admin = plain_redis.client()
    seed(admin)
    scripted = read_all(BanScanner(plain_redis.client(), count=7))
    piped = read_all(BanScanner(no_script_client(plain_redis), count=7))
    fallback = BanScanner(no_script_client(plain_redis), count=7)  # use_script=True, refused: falls back
    assert read_all(fallback) == scripted == piped
    assert len(scripted) == 53
    assert b"bans_other_thing" not in scripted
    assert b"bans_service_x" not in scripted
    assert scripted[b"bans_ip_192.0.2.201"][0] == b"x" * (MAX_VALUE_BYTES + 10)
    assert scripted[b"bans_ip_192.0.2.202"][0] == WRONG_TYPE
    assert scripted[b"bans_ip_192.0.2.0"][1] == -1


def test_expiry_comes_from_when_redis_answered_not_when_the_batch_is_handled(plain_redis, monkeypatch) -> None:
    """A batch that waited in the prefetch queue must not push expiries later (a later pass would then
    see every ban as changed, and a restore would give back more time than the ban had)."""
    admin = plain_redis.client()
    key = write_ban(admin, "192.0.2.77", ttl=3600)
    scanner_batches = list(BanScanner(plain_redis.client()).batches())
    (answered, flat), = scanner_batches
    late = [(answered - 60_000, flat)]  # as if Redis had answered a minute before the pass looked at it
    monkeypatch.setattr(bans.BanScanner, "prefetched", lambda self, *depth: iter(late))
    reconcile(plain_redis.client(), open_state())
    with open_journal(open_state()) as journal:
        (entry,) = list(journal.entries())
    assert entry.key == key.encode()
    assert entry.expires_ms == answered - 60_000 + flat[2]


def test_restore_without_scripting(plain_redis) -> None:
    admin = plain_redis.client()
    now = time.time_ns() // 1_000_000
    entries = [Entry(b"bans_ip_192.0.2.1", b'{"reason":"a"}', now + 600_000), Entry(b"bans_ip_192.0.2.2", b"plain", None),
               Entry(b"bans_ip_192.0.2.3", b"old", now - 1)]
    admin.set("bans_ip_192.0.2.2", "re-created by an instance")
    assert restore(no_script_client(plain_redis), entries, now) == (1, 1)
    assert admin.get("bans_ip_192.0.2.1") == b'{"reason":"a"}'
    assert 590_000 < admin.pttl("bans_ip_192.0.2.1") <= 600_000
    assert admin.get("bans_ip_192.0.2.2") == b"re-created by an instance"
    assert not admin.exists("bans_ip_192.0.2.3")
    admin.delete("bans_ip_192.0.2.2")
    assert restore(plain_redis.client(), entries, now) == (1, 1)  # the scripted path: same answer
    assert admin.get("bans_ip_192.0.2.2") == b"plain"
    assert admin.pttl("bans_ip_192.0.2.2") == -1
