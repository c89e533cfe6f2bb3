"""A pass reads values only for new keys, moved expiries and the slice it verifies; the slice catches a value
rewritten in place within VERIFY_SLICES passes."""

from __future__ import annotations

import json

import pytest

from harness.bans import bans_state, run_pass, write_ban
from redissync.bans.absorb import VERIFY_SLICES
from redissync.bans.archive import open_journal
from redissync.bans.journal import VERIFY_SLICE_META
from redissync.bans.scanner import BanScanner

pytestmark = pytest.mark.usefixtures("job_cache_mode")


def read_values(monkeypatch) -> list[bytes]:
    """Every key whose value the passes read from now on (BanScanner.values)."""
    keys: list[bytes] = []
    original = BanScanner.values

    def values(self, wanted):
        keys.extend(wanted)
        return original(self, wanted)

    monkeypatch.setattr(BanScanner, "values", values)
    return keys


def test_a_steady_pass_reads_only_the_values_it_must(plain_redis, monkeypatch) -> None:
    admin = plain_redis.client()
    for i in range(160):
        write_ban(admin, f"192.0.2.{i}", ttl=None if i % 20 == 0 else 3600)
    run_pass(plain_redis)
    with open_journal(bans_state()) as journal:
        verified = int(journal.get_meta(VERIFY_SLICE_META) or 0)
        ids = dict(journal._db.execute("SELECT key, id FROM bans"))
    moved = b"bans_ip_192.0.2.5"
    in_slice = {key for key, row_id in ids.items() if row_id % VERIFY_SLICES == verified}
    assert len(in_slice) == 160 // VERIFY_SLICES
    write_ban(admin, "198.51.100.1", ttl=600)  # new
    write_ban(admin, "192.0.2.5", reason="re-banned", ttl=7200)  # a moved expiry
    read = read_values(monkeypatch)
    result = run_pass(plain_redis)
    assert (result.seen, result.new, result.changed) == (161, 1, 1)
    with open_journal(bans_state()) as journal:
        assert journal.get_meta(VERIFY_SLICE_META) == str((verified + 1) % VERIFY_SLICES)
        (row,) = journal._db.execute("SELECT value FROM bans WHERE key = ?", (moved,))
    assert json.loads(row[0])["reason"] == "re-banned"
    assert sorted(read) == sorted(in_slice | {moved, b"bans_ip_198.51.100.1"})  # the slice, the new ban, the moved one


def test_a_value_rewritten_in_place_is_caught_within_the_verified_slices(plain_redis) -> None:
    admin = plain_redis.client()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(40)]
    run_pass(plain_redis)
    admin.set(keys[7], json.dumps({"reason": "rewritten", "date": 1}), keepttl=True)  # same expiry, new value
    changed = [run_pass(plain_redis).changed for _ in range(VERIFY_SLICES)]
    assert sorted(changed) == [0] * (VERIFY_SLICES - 1) + [1]
    with open_journal(bans_state()) as journal:
        (entry,) = [entry for entry in journal.entries() if entry.key == keys[7].encode()]
    assert entry.reason == "rewritten"
