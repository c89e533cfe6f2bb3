"""Writing journaled bans back: SET NX with the time left, streamed in batches, with and without scripting."""

from __future__ import annotations

import time

import pytest
from redis.exceptions import ResponseError

from harness.bans import no_script_client
from redissync.bans import writeback
from redissync.bans.entry import Entry
from redissync.bans.writeback import restore
from redissync.keyspace import ALL_SLOTS, slot_of


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_restore_without_scripting(plain_redis) -> None:
    admin = plain_redis.client()
    now = now_ms()
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


@pytest.mark.compat
@pytest.mark.parametrize("scripting", [True, False], ids=["script", "no-script"])
def test_many_batches_are_streamed_and_counted_exactly(plain_redis, scripting: bool) -> None:
    """Several batches on the wire at once: every ban lands once, with its own TTL, and the counts add up."""
    admin = plain_redis.client()
    now = now_ms()
    entries = [(f"bans_ip_10.0.{i // 256}.{i % 256}".encode(), f'{{"n":{i}}}'.encode(), None if i % 7 == 0 else now + 60_000 + i)
               for i in range(2 * writeback.CHUNK + 345)]
    present = entries[::100]
    for key, _, _ in present:
        admin.set(key, b"newer")
    expired = [(b"bans_ip_192.0.2.250", b"gone", now - 5)]
    client = plain_redis.client() if scripting else no_script_client(plain_redis)
    assert restore(client, entries + expired, now) == (len(entries) - len(present), len(present))
    assert admin.dbsize() == len(entries)
    assert admin.get(present[1][0]) == b"newer"
    key, value, expires_ms = entries[len(entries) // 2 + 1]
    assert admin.get(key) == value
    assert expires_ms - now - 1_000 < admin.pttl(key) <= expires_ms - now
    assert admin.pttl(entries[7][0]) == -1  # permanent stays permanent
    assert client.ping()  # the streamed connection went back to the pool clean


def test_batches_are_bounded_in_bytes(monkeypatch) -> None:
    monkeypatch.setattr(writeback, "RESTORE_BYTES", 1_000)
    sizes: list[int] = []
    batches = list(writeback._batches([(b"k%d" % i, b"v" * 300, None) for i in range(10)], 0, sizes))
    assert sizes == [4, 4, 2]
    assert [(to, len(batch.keys)) for to, batch in batches] == [(0, size) for size in sizes]


def test_batches_fill_per_destination_and_ask_for_the_slots_not_mapped() -> None:
    entries = [(b"k%d" % i, b"v", None) for i in range(2 * writeback.CHUNK + 10)]
    owners = [slot % 2 for slot in range(ALL_SLOTS)]
    unmapped = slot_of(entries[0][0])
    owners[unmapped] = -1
    asked: list[bytes] = []
    batches = list(writeback._batches(entries, 0, [], writeback.SlotRoute(owners, lambda key: asked.append(key) or 2)))
    assert asked == [key for key, _, _ in entries if slot_of(key) == unmapped]
    for to, batch in batches:
        assert 0 < len(batch.keys) <= writeback.CHUNK
        assert all((2 if slot_of(key) == unmapped else slot_of(key) % 2) == to for key in batch.keys)
    assert sorted(key for _, batch in batches for key in batch.keys) == sorted(key for key, _, _ in entries)


@pytest.mark.compat
@pytest.mark.parametrize("scripting", [True, False], ids=["script", "no-script"])
def test_an_error_reply_fails_the_restore_and_leaves_no_unread_reply(plain_redis, scripting: bool) -> None:
    admin = plain_redis.client()
    admin.set("bans_ip_192.0.2.9", "x")
    client = plain_redis.client() if scripting else no_script_client(plain_redis)
    admin.execute_command("CONFIG", "SET", "maxmemory", "1")  # every write is refused: OOM
    try:
        entries = [(f"bans_ip_10.1.{i // 256}.{i % 256}".encode(), b"v", None) for i in range(3 * writeback.CHUNK)]
        with pytest.raises(ResponseError, match="maxmemory"):
            restore(client, entries)
    finally:
        admin.execute_command("CONFIG", "SET", "maxmemory", "0")
    assert client.get("bans_ip_192.0.2.9") == b"x"  # answered by its own reply, not a stale one


@pytest.mark.parametrize("scripting", [True, False], ids=["script", "no-script"])
def test_written_names_exactly_the_bans_written(plain_redis, scripting: bool) -> None:
    """What a caller journals afterwards (the local-only bans, bans/local_only.py): the entries SET NX wrote, over
    several batches, neither those already there nor those too late."""
    admin = plain_redis.client()
    now = now_ms()
    entries = [(f"bans_ip_10.1.{i // 256}.{i % 256}".encode(), b"v", None if i % 5 == 0 else now + 60_000)
               for i in range(writeback.CHUNK + 10)]
    for key, _, _ in entries[::3]:
        admin.set(key, b"newer")
    written: list = []
    client = plain_redis.client() if scripting else no_script_client(plain_redis)
    assert restore(client, [*entries, (b"bans_ip_192.0.2.9", b"gone", now - 5)], now, written) == (len(written), len(entries[::3]))
    assert written == [entry for n, entry in enumerate(entries) if n % 3]


def test_written_on_a_cluster_names_the_bans_each_master_wrote(redis_cluster) -> None:
    admin = redis_cluster.client()
    now = now_ms()
    entries = [(f"bans_ip_10.2.0.{i}".encode(), b"v", now + 60_000) for i in range(60)]
    for key, _, _ in entries[::4]:
        admin.set(key, b"newer")
    written: list = []
    assert restore(redis_cluster.client(), entries, now, written) == (45, 15)
    assert sorted(written) == sorted(entry for n, entry in enumerate(entries) if n % 4)
    assert all(admin.get(key) == "v" for key, _, _ in written)  # the admin client decodes
