"""A pass reads values only for new keys, moved expiries and the slice it verifies (read by the scan's own calls);
the slice catches a value rewritten in place within VERIFY_SLICES passes, scripted or not."""

from __future__ import annotations

import functools
import json

import pytest

from harness.bans import bans_state, run_pass, write_ban
from redissync.bans import absorb as absorb_module
from redissync.bans.archive import open_journal
from redissync.bans.journal import VERIFY_SLICE_META
from redissync.bans.scan_scripts import VERIFY_SLICES, slice_of
from redissync.bans.scanner import BanScanner

pytestmark = pytest.mark.usefixtures("job_cache_mode")


def read_values(monkeypatch) -> tuple[list[bytes], list[bytes]]:
    """Every key whose value the passes read from now on: on their own (BanScanner.values), and with the scan."""
    alone: list[bytes] = []
    scanned: list[bytes] = []
    values, one_batch = BanScanner.values, BanScanner._one_batch

    def spied_values(self, wanted):
        alone.extend(wanted)
        return values(self, wanted)

    def spied_batch(self, *args):
        cursor, flat, valued = one_batch(self, *args)
        scanned.extend(valued[0::3])
        return cursor, flat, valued

    monkeypatch.setattr(BanScanner, "values", spied_values)
    monkeypatch.setattr(BanScanner, "_one_batch", spied_batch)
    return alone, scanned


def test_a_steady_pass_reads_only_the_values_it_must(plain_redis, monkeypatch) -> None:
    admin = plain_redis.client()
    for i in range(160):
        write_ban(admin, f"192.0.2.{i}", ttl=None if i % 20 == 0 else 3600)
    run_pass(plain_redis)
    with open_journal(bans_state()) as journal:
        verified = int(journal.get_meta(VERIFY_SLICE_META) or 0)
    moved, new = b"bans_ip_192.0.2.6", b"bans_ip_198.51.100.1"
    assert slice_of(moved) != verified != slice_of(new)
    write_ban(admin, "198.51.100.1", ttl=600)  # new
    write_ban(admin, "192.0.2.6", reason="re-banned", ttl=7200)  # a moved expiry
    alone, scanned = read_values(monkeypatch)
    result = run_pass(plain_redis)
    assert (result.seen, result.new, result.changed) == (161, 1, 1)
    with open_journal(bans_state()) as journal:
        assert journal.get_meta(VERIFY_SLICE_META) == str((verified + 1) % VERIFY_SLICES)
        (row,) = journal._db.execute("SELECT value FROM bans WHERE key = ?", (moved,))
    assert json.loads(row[0])["reason"] == "re-banned"
    assert sorted(alone) == [moved, new]  # on their own: the new ban, the moved one
    in_slice = sorted(key for key in (f"bans_ip_192.0.2.{i}".encode() for i in range(160)) if slice_of(key) == verified)
    assert sorted(scanned) == in_slice, "with the scan: every ban of the verified slice, once, and no other"
    assert 160 // VERIFY_SLICES - 2 <= len(in_slice) <= 160 // VERIFY_SLICES + 2


@pytest.mark.parametrize("scripted", [True, False], ids=["script", "pipelined"])
def test_a_value_rewritten_in_place_is_caught_within_the_verified_slices(plain_redis, monkeypatch, scripted: bool) -> None:
    admin = plain_redis.client()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(40)]
    run_pass(plain_redis)
    admin.set(keys[7], json.dumps({"reason": "rewritten", "date": 1}), keepttl=True)  # same expiry, new value
    if not scripted:  # the scanner's path for a user that may not run scripts
        monkeypatch.setattr(absorb_module, "BanScanner", functools.partial(BanScanner, use_script=False))
    changed = [run_pass(plain_redis).changed for _ in range(VERIFY_SLICES)]
    assert sorted(changed) == [0] * (VERIFY_SLICES - 1) + [1]
    with open_journal(bans_state()) as journal:
        (entry,) = [entry for entry in journal.entries() if entry.key == keys[7].encode()]
    assert entry.reason == "rewritten"
