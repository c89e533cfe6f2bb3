"""The ban journal: round trips, write cost, crash safety."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from redissync.bans.entry import classify, classify_row, digest
from redissync.bans.journal import EXPIRY_MASK, ID_SHIFT, JOURNAL_NAME, Journal

ROOT = Path(__file__).resolve().parents[3]


def entry(key: bytes, value: bytes = b'{"reason":"x","date":5}', expires_ms: int | None = 10_000_000):
    return classify(key, value, expires_ms, 1)


def row(key: bytes, value: bytes = b'{"reason":"x","date":5}', expires_ms: int | None = 10_000_000) -> tuple:
    """:func:`entry` as the row the pass writes (the product path, :meth:`Journal.upsert_rows`)."""
    return classify_row(key, value, expires_ms, 1)


def pack(row_id: int, expires_ms: int | None) -> int:
    """The index layout journal.py defines, written field by field (SQLite computes it for the index)."""
    return (row_id << ID_SHIFT) | (0 if expires_ms is None else expires_ms // 1000 + 1)


def unpack(packed: int) -> tuple[int, int | None]:
    """``(row_id, expires_s)`` with ``expires_s`` None for a permanent ban (as bans/absorb.py reads it)."""
    seconds = packed & EXPIRY_MASK
    return packed >> ID_SHIFT, (seconds - 1) if seconds else None


def test_upsert_index_and_fetch(tmp_path: Path) -> None:
    with Journal.in_directory(tmp_path) as journal:
        journal.begin()
        assert journal.upsert_rows([row(b"bans_ip_192.0.2.1"), row(b"bans_ip_192.0.2.2", expires_ms=None)]) == 2
        journal.upsert_rows([row(b"bans_ip_192.0.2.1", b'{"reason":"y"}')])
        journal.commit()
        index = dict(journal.index_rows())
        assert set(index) == {b"bans_ip_192.0.2.1", b"bans_ip_192.0.2.2"}
        row_id, expires_s = unpack(index[b"bans_ip_192.0.2.1"])
        assert journal.digests([row_id]) == {row_id: digest(b'{"reason":"y"}')}
        assert expires_s == 10_000
        assert unpack(index[b"bans_ip_192.0.2.2"])[1] is None
        assert [e.reason for e in journal.by_ids([row_id])] == ["y"]
        assert journal.count() == 2
        assert journal.delete([b"bans_ip_192.0.2.2"]) == 1
        assert journal.count() == 1


def test_pack_round_trip() -> None:
    assert unpack(pack(123456, 1_800_000_000_123)) == (123456, 1_800_000_000)
    assert unpack(pack(1, None)) == (1, None)
    assert pack((1 << 28) - 1, 4_000_000_000_000).bit_length() <= 60  # a two-digit Python int


def test_uncommitted_pass_leaves_the_journal_unchanged(tmp_path: Path) -> None:
    with Journal.in_directory(tmp_path) as journal:
        journal.begin()
        journal.upsert_rows([row(b"bans_ip_192.0.2.1")])
        journal.commit()
    # A process that dies mid-pass (SIGKILL, no rollback, no close) must leave the last committed state.
    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'jobs')!r}); import os\n"
              "from pathlib import Path\nfrom redissync.bans.journal import Journal\nfrom redissync.bans.entry import classify_row\n"
              f"j = Journal.in_directory(Path({str(tmp_path)!r})); j.begin()\n"
              "j.upsert_rows([classify_row(f'bans_ip_10.0.{i // 256}.{i % 256}'.encode(), b'v' * 300, None, 1) for i in range(5000)])\n"
              "j.delete([b'bans_ip_192.0.2.1'])\nos.kill(os.getpid(), 9)\n")
    assert subprocess.run([sys.executable, "-c", script]).returncode == -9
    with Journal.in_directory(tmp_path) as journal:
        assert journal.count() == 1
        assert [e.ip for e in journal.entries()] == ["192.0.2.1"]
    assert sqlite3.connect(tmp_path / JOURNAL_NAME).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_checkpoint_leaves_a_self_contained_file(tmp_path: Path) -> None:
    with Journal.in_directory(tmp_path) as journal:
        journal.begin()
        journal.upsert_rows([row(b"bans_ip_192.0.2.1")])
        journal.commit()
        journal.checkpoint()
        assert (tmp_path / f"{JOURNAL_NAME}-wal").stat().st_size == 0
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes((tmp_path / JOURNAL_NAME).read_bytes())  # what BunkerWeb's DB holds after persist()
    assert sqlite3.connect(copy).execute("SELECT COUNT(*) FROM bans").fetchone() == (1,)


def test_readonly_open_of_a_missing_journal_creates_nothing(tmp_path: Path) -> None:
    with Journal.in_directory(tmp_path, readonly=True) as journal:
        assert list(journal.entries()) == []
    assert not (tmp_path / JOURNAL_NAME).exists()


def test_classify_labels_odd_values() -> None:
    plain = entry(b"bans_ip_192.0.2.1", b"bad behavior")  # BunkerWeb's own first write: a ban, not an oddity
    assert (plain.malformed, plain.reason) == (None, "bad behavior")
    assert entry(b"bans_ip_192.0.2.1", b"{broken").malformed == "not-json"
    assert entry(b"bans_ip_192.0.2.1", b"[1, 2]").malformed == "not-json"
    assert entry(b"bans_ip_192.0.2.1", b"\xff").malformed == "binary"
    assert entry(b"bans_ip_192.0.2.1", b"x" * 70_000).malformed == "too-large"
    assert entry(b"bans_ip_nope").malformed == "key"
    good = entry(b"bans_service_a_ip_b_ip_2001:db8::1")
    assert (good.malformed, good.scope, good.service, good.ip) == (None, "service", "a_ip_b", "2001:db8::1")
