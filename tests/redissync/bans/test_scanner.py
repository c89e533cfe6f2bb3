"""Bulk ban reads: the script and the no-scripting pipeline agree, batches carry the time Redis answered."""

from __future__ import annotations

import time

from harness.bans import no_script_client, write_ban
from redissync.bans import scanner as scanner_module
from redissync.bans.archive import open_journal
from redissync.bans.cycle import reconcile
from redissync.bans.entry import MAX_VALUE_BYTES
from redissync.bans.scan_scripts import VERIFY_SLICES, slice_of
from redissync.bans.scanner import GONE, WRONG_TYPE, BanScanner
from redissync.state import open_state


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


def test_expiries_and_values_agree_with_the_full_read_script_or_not(plain_redis) -> None:
    admin = plain_redis.client()
    seed(admin)
    full = read_all(BanScanner(plain_redis.client(), count=7))
    for client in (plain_redis.client(), no_script_client(plain_redis)):
        scanner = BanScanner(client, count=7)
        expiries = {}
        for _stamp, flat, valued in scanner.expiries():
            assert len(flat) % 2 == 0 and valued == []
            expiries.update((flat[i], -1 if flat[i + 1] < 0 else round(flat[i + 1], -5)) for i in range(0, len(flat), 2))
        assert expiries == {key: pttl for key, (_value, pttl) in full.items()}
        keys = [*sorted(full), b"bans_ip_192.0.2.250"]  # the last one does not exist (deleted since the scan)
        _stamp, flat = scanner.values(keys)
        values = dict(zip(keys, flat[0::2], strict=True))
        assert values.pop(b"bans_ip_192.0.2.250") == GONE
        assert values == {key: value for key, (value, _pttl) in full.items()}


def test_the_verified_slice_travels_with_its_values_script_or_not(plain_redis) -> None:
    """Every ban comes once per pass: with its value when its slice is the verified one (a value too large for a
    batch, or not a string, as in a full read: an int), else with its expiry alone; over the slices, all of them."""
    admin = plain_redis.client()
    seed(admin)
    full = read_all(BanScanner(plain_redis.client(), count=7))
    for client in (plain_redis.client(), no_script_client(plain_redis)):
        everyone: dict[bytes, tuple] = {}
        for verified in range(VERIFY_SLICES):
            bare, sliced = set(), {}
            for _stamp, flat, valued in BanScanner(client, count=7).expiries(verified):
                bare.update(flat[0::2])
                sliced.update((valued[i], (valued[i + 1], -1 if valued[i + 2] < 0 else round(valued[i + 2], -5)))
                              for i in range(0, len(valued), 3))
            assert not bare & set(sliced) and bare | set(sliced) == set(full)
            assert {key for key in full if slice_of(key) == verified} == set(sliced)
            everyone.update(sliced)
        assert everyone.pop(b"bans_ip_192.0.2.201") == (MAX_VALUE_BYTES + 10, 3600000)  # its length: fetched alone
        assert everyone == {key: value for key, value in full.items() if key != b"bans_ip_192.0.2.201"}


def test_expiry_comes_from_when_redis_answered_not_when_the_batch_is_handled(plain_redis, monkeypatch) -> None:
    """A batch that waited in the prefetch queue must not push expiries later (a later pass would then
    see every ban as changed, and a restore would give back more time than the ban had)."""
    admin = plain_redis.client()
    key = write_ban(admin, "192.0.2.77", ttl=3600)
    scanner_batches = list(BanScanner(plain_redis.client()).batches())
    (answered, flat), = scanner_batches
    late = [(answered - 60_000, flat)]  # as if Redis had answered a minute before the pass looked at it
    monkeypatch.setattr(BanScanner, "prefetched", lambda self, *args, **kwargs: iter(late))
    reconcile(plain_redis.client(), open_state())
    with open_journal(open_state()) as journal:
        (entry,) = list(journal.entries())
    assert entry.key == key.encode()
    assert entry.expires_ms == answered - 60_000 + flat[2]



def test_a_call_carries_at_most_its_byte_budget_of_values_the_rest_travel_alone(plain_redis, monkeypatch) -> None:
    """Values past REPLY_BYTES come back as lengths and are fetched one by one: no call copies more than the budget
    (Redis would be held for as long as it copies), and nothing is lost or cut."""
    admin = plain_redis.client()
    values = {f"bans_ip_192.0.2.{i}".encode(): bytes([65 + i]) * 3000 for i in range(20)}
    for key, value in values.items():
        admin.set(key, value, ex=3600)
    monkeypatch.setattr(scanner_module, "REPLY_BYTES", 10_000)  # room for three 3,000-byte values per call
    for client in (plain_redis.client(), no_script_client(plain_redis)):
        scanner = BanScanner(client)
        assert {key: value for key, (value, _pttl) in read_all(scanner).items()} == values
        whole = scanner.round_trips
        keys = sorted(values)
        _stamp, flat = scanner.values(keys)
        assert dict(zip(keys, flat[0::2], strict=True)) == values
        assert scanner.round_trips - whole >= 20 / 3  # each call took ≤ 3 values, or each MGET ≤ 3
