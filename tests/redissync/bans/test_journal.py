"""The ban journal: round trips, write cost, crash safety."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from redissync.bans.entry import classify, classify_row, digest
from redissync.bans.journal import EXPIRY_MASK, ID_SHIFT, JOURNAL_NAME, Journal
from tests.redissync.bans.old_journals import OLD_SCHEMAS, write_old_journal

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
    copy.write_bytes((tmp_path / JOURNAL_NAME).read_bytes())  # what an older version cached of it
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


def _state(journal: Journal) -> tuple:
    return (journal.count(), journal.tally("scope"), journal.tally("reason"), journal.malformed_counts(),
            [e.key for e in journal.most_recent(10, 0)])


@pytest.mark.parametrize("twice", [False, True], ids=["distinct-keys", "a-key-loaded-twice"])
def test_a_bulk_load_counts_and_indexes_as_row_by_row_writes_do(tmp_path: Path, twice: bool) -> None:
    """A first pass's bulk load writes a bare table and builds its indexes, triggers and counts once: the journal it
    leaves is the one row-by-row writes leave (SCAN may answer a key twice: its last row is kept), and the rows
    written after it are counted as usual."""
    rows = [row(f"bans_ip_192.0.2.{i}".encode(), f'{{"reason":"r{i % 3}","date":{i}}}'.encode()) for i in range(30)]
    rows += [row(b"bans_service_app_ip_192.0.2.99", b"\xff binary"), row(b"bans_ip_198.51.100.9", b"", expires_ms=None)]
    rows += [row(b"bans_ip_198.51.100.7", b'{"reason":""}'), row(b"bans_ip_198.51.100.8", b'{"date":5}')]  # '' and NULL: one count
    if twice:
        rows.append(row(b"bans_ip_192.0.2.5", b'{"reason":"again","date":99}'))
    later = [row(b"bans_ip_198.51.100.1", b'{"reason":"later","date":100}')]
    with Journal(tmp_path / "plain.sqlite3") as plain, Journal(tmp_path / "bulk.sqlite3") as bulk:
        plain.begin()
        plain.upsert_rows(rows)
        plain.commit()
        bulk.begin()
        with bulk.bulk_load():
            bulk.upsert_rows(rows[:10])
            bulk.upsert_rows(rows[10:])
        bulk.commit()
        assert _state(bulk) == _state(plain)
        for journal in (plain, bulk):
            journal.begin()
            journal.upsert_rows(later)
            journal.delete([b"bans_ip_192.0.2.7"])
            journal.commit()
        assert _state(bulk) == _state(plain)
        assert bulk.count() == 34
        assert [e.reason for e in bulk.entries(ip="192.0.2.5")] == ["again" if twice else "r2"]
    built = sqlite3.connect(tmp_path / "bulk.sqlite3").execute("SELECT name FROM sqlite_master WHERE tbl_name = 'bans'")
    assert {name for (name,) in built} == {"bans", "bans_key", "bans_date", "ban_counted", "ban_uncounted", "ban_recounted"}


def test_a_bulk_load_that_dies_half_way_leaves_the_previous_journal(tmp_path: Path) -> None:
    with Journal.in_directory(tmp_path):
        pass  # an empty journal, as before a first pass
    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'jobs')!r}); import os\n"
              "from pathlib import Path\nfrom redissync.bans.journal import Journal\nfrom redissync.bans.entry import classify_row\n"
              f"j = Journal.in_directory(Path({str(tmp_path)!r})); j.begin()\n"
              "with j.bulk_load():\n"
              "    j.upsert_rows([classify_row(f'bans_ip_10.0.{i // 256}.{i % 256}'.encode(), b'v' * 300, None, 1) for i in range(5000)])\n"
              "    os.kill(os.getpid(), 9)\n")
    assert subprocess.run([sys.executable, "-c", script]).returncode == -9
    with Journal.in_directory(tmp_path) as journal:
        assert journal.is_empty() and journal.count() == 0
        journal.begin()
        journal.upsert_rows([row(b"bans_ip_192.0.2.1")])  # the trigger is there: the row is counted
        journal.commit()
        assert journal.count() == 1
    assert sqlite3.connect(tmp_path / JOURNAL_NAME).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_rename_keeps_a_rows_columns_and_yields_to_a_row_already_named_so(tmp_path: Path) -> None:
    with Journal.in_directory(tmp_path) as journal:
        journal.begin()
        journal.upsert_rows([row(b"bans_ip_192.0.2.1", expires_ms=5_000_000), row(b"bans_ip_192.0.2.2"),
                             row(b"bans_ip_{192.0.2.2}", expires_ms=None)])
        ids = {key: packed >> ID_SHIFT for key, packed in journal.index_rows()}
        before = journal.tally("scope")
        renamed = journal.rename([(ids[b"bans_ip_192.0.2.1"], b"bans_ip_192.0.2.1", b"bans_ip_{192.0.2.1}"),
                                  (ids[b"bans_ip_192.0.2.2"], b"bans_ip_192.0.2.2", b"bans_ip_{192.0.2.2}")])
        journal.commit()
        assert renamed == 1
        rows = {entry.key: entry for entry in journal.entries()}
        assert set(rows) == {b"bans_ip_{192.0.2.1}", b"bans_ip_{192.0.2.2}"}
        assert (rows[b"bans_ip_{192.0.2.1}"].expires_ms, rows[b"bans_ip_{192.0.2.1}"].ip) == (5_000_000, "192.0.2.1")
        assert rows[b"bans_ip_{192.0.2.2}"].expires_ms is None, "the row already under the new name stays"
        assert journal.tally("scope") == {"global": before["global"] - 1}
        assert {b"bans_ip_192.0.2.1", b"bans_ip_{192.0.2.1}", b"bans_ip_192.0.2.2"} <= journal.changed_keys


def _varied_rows() -> list[tuple]:
    """Rows of every kind a journal holds: global and service bans, odd keys and values, a reason '' beside none."""
    rows = [row(f"bans_ip_192.0.2.{i}".encode(), f'{{"reason":"r{i % 3}","date":{i}}}'.encode()) for i in range(20)]
    rows += [row(b"bans_service_app_ip_192.0.2.99", b"\xff binary"), row(b"bans_ip_198.51.100.9", b"", expires_ms=None),
             row(b"bans_ip_198.51.100.7", b'{"reason":""}'), row(b"bans_ip_198.51.100.8", b'{"date":5}'),
             row(b"bans_nope", b"bad behavior"), row(b"bans_service_a_ip_b_ip_2001:db8::1", b'{"reason":"r1","date":3}')]
    return rows


@pytest.mark.parametrize("version", sorted(OLD_SCHEMAS))
def test_an_older_journal_is_migrated_on_open_its_rows_ids_and_counts_kept(tmp_path: Path, version: str) -> None:
    rows = _varied_rows()
    write_old_journal(tmp_path / JOURNAL_NAME, version, rows)
    with Journal(tmp_path / "fresh.sqlite3") as fresh, Journal.in_directory(tmp_path) as migrated:
        fresh.begin()
        fresh.upsert_rows(rows)
        fresh.commit()
        assert migrated.get_meta("schema") == "3" and migrated.get_meta("identity") == "kept"
        assert [unpack(packed)[0] for _, packed in migrated.index_rows()] == [3 * n + 7 for n in range(len(rows))]
        assert sorted(migrated.entries()) == sorted(fresh.entries()) == sorted(classify(*r[:2], r[3], 1) for r in rows)
        assert _state(migrated) == _state(fresh)
        assert migrated.tally("service") == fresh.tally("service")
        assert migrated.counts_by("reason", 0) == fresh.counts_by("reason", 0)
        for journal in (fresh, migrated):  # the triggers count what is written after
            journal.begin()
            journal.upsert_rows([row(b"bans_ip_192.0.2.1", b'{"reason":"moved"}'), row(b"bans_ip_203.0.113.1")])
            journal.delete([b"bans_nope"])
            journal.commit()
        assert _state(migrated) == _state(fresh)
    with sqlite3.connect(tmp_path / JOURNAL_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    assert names == {"bans", "meta", "index_changes", "ban_kinds", "ban_kinds_named", "bans_date",
                     "ban_counted", "ban_uncounted", "ban_recounted"}  # keys unique by the table's own constraint


def test_a_kind_is_its_four_columns_exactly_and_a_rolled_back_kind_is_added_again(tmp_path: Path) -> None:
    """A reason '' and none are two kinds (a ban lists as it was written) that the summary counts as one; a kind added
    by a transaction rolled back is added again by the next one that needs it."""
    with Journal.in_directory(tmp_path) as journal:
        journal.begin()
        journal.upsert_rows([row(b"bans_ip_198.51.100.7", b'{"reason":""}'), row(b"bans_ip_198.51.100.8", b'{"date":5}')])
        journal.commit()
        assert {e.ip: e.reason for e in journal.entries()} == {"198.51.100.7": "", "198.51.100.8": None}
        assert journal.tally("reason") == {"": 2}
        journal.begin()
        journal.upsert_rows([row(b"bans_ip_192.0.2.1", b'{"reason":"new"}')])
        journal.rollback()
        journal.begin()
        journal.upsert_rows([row(b"bans_ip_192.0.2.2", b'{"reason":"new"}')])
        journal.commit()
        assert [(e.ip, e.reason) for e in journal.entries(ip="192.0.2.2")] == [("192.0.2.2", "new")]
        assert journal.tally("reason") == {"": 2, "new": 1}
