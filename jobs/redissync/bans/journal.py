"""The durable ban journal: every ban the bans job has seen, so bans outlive a Redis that forgot them.

One SQLite file in WAL mode in the job's state directory (stdlib only, nothing to install inside
BunkerWeb). Why SQLite rather than a JSON file: a pass writes only the rows that changed (an upsert or a
delete per changed ban), never the whole journal, and a transaction is atomic and crash-safe — a pass
that dies half-way leaves no commit frame in the WAL, so the journal is exactly the previous pass. Inside
BunkerWeb this file is a working copy: what a pass changed is saved into the job cache by
:mod:`.archive`.

Each row keeps the raw key and value bytes as Redis holds them (a restore writes them back untouched)
and the absolute expiry in epoch milliseconds (``NULL`` = permanent). The columns ``ip``, ``kind`` (scope, service,
reason and malformed label, each kind stored once: bans/schema.py) and ``date`` are derived once, when the row is
written, so listing and summarising never re-parse every value.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

from .entry import Entry, row_getter
from .schema import ENTRY_FROM, ROWS_PER_INSERT, SCHEMA_VERSION, TABLE, UPSERT, KindIds, build_loaded, insert_rows, prepare

JOURNAL_NAME = "bans-journal.sqlite3"
UNSAVED_META = "unsaved"  # "1" from a commit that changed something until the archive holds it (bans/archive.py)
# Meta about this file's own rows (ids), never archived (bans/archive.py): the index's base (bans/index.py)
# and the slice of rows the next pass verifies (bans/absorb.py).
INDEX_TOKEN_META, INDEX_SIZE_META, VERIFY_SLICE_META = "index_token", "index_size", "verify_slice"
CHANGED_KEYS_CAP = 50_000  # beyond this many changed keys a pass rewrites the archive's base instead of a delta
ARCHIVE_COLUMNS = "key, value, expires_ms, seen_ms"  # what the archive stores; the rest is derived again
_LOOKUP_CHUNK = 900  # bound on "?" parameters per query, well under SQLite's limit

_COLUMNS = "key, value, expires_ms, ip, k.service, k.scope, k.reason, date, k.malformed, seen_ms"  # an Entry's, from ENTRY_FROM


# The packed index (bans/index.py): one Python int per journaled ban, ``row id << ID_SHIFT | expiry field``,
# the expiry field being the expiry in whole seconds + 1, 0 for a permanent ban. Both fit in 60 bits (ids
# below 2^28), the size of Python's two-digit ints: 32 bytes per ban at 1M bans, not 40. SQLite packs it.
ID_SHIFT = 32
EXPIRY_MASK = (1 << ID_SHIFT) - 1
_PACKED_SQL = f"(id << {ID_SHIFT}) | COALESCE(expires_ms / 1000 + 1, 0)"
INDEX_NAME = "bans-journal.index"  # the index's base, next to the journal (bans/index.py)
_KIND_ID = row_getter("kind")  # a stored row's kind id (upsert_rows)


class LoadCopy(Protocol):
    """What keeps its own copy of a bulk load's rows as they are written (the index's base, the archive's base), so
    that the pass does not read them back from the journal."""

    def add(self, rows: list[tuple[Any, ...]]) -> None: ...

    def close(self, whole: bool) -> None:
        """The load is over; ``whole`` False when a key was loaded twice (the journal kept its last row only)."""


class Journal:
    """A connection to the journal file. Use as a context manager; one writer at a time (the pass lock)."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if readonly and not path.exists():
            self._db = sqlite3.connect(":memory:", isolation_level=None)
        else:
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, never corrupt
        prepare(self._db)
        if self.get_meta("schema") != SCHEMA_VERSION:  # a new file, or a migrated one
            self.put_meta("schema", SCHEMA_VERSION)
        self.changes = 0
        self._kinds = KindIds(self._db)
        self._load_counts: Counter[int] | None = None  # a bulk load's rows by kind, as they are written
        self.copies: tuple[LoadCopy, ...] = ()  # the last bulk load's copies of its rows (Journal.bulk_load)
        self.tracks_index = False  # record written or deleted keys for the index's base (bans/index.py)
        self.meta_changed = False  # a meta value (the Redis identity record) differs from what was read
        # Keys written or deleted since the archive last saved (None: too many to list, save a new base).
        self.changed_keys: set[bytes] | None = set()

    @classmethod
    def in_directory(cls, directory: Path, readonly: bool = False) -> Journal:
        return cls(directory / JOURNAL_NAME, readonly=readonly)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.rollback()
        self._db.close()

    # transactions -------------------------------------------------------------------------------
    def begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._kinds.clear()  # ids read again in this transaction: one SQLite rolled back by itself may have added

    def commit(self) -> None:
        """Commit; a commit that changed rows or meta also records that the archive does not hold them yet."""
        if self._db.in_transaction:
            if self.changes or self.meta_changed:
                self.put_meta(UNSAVED_META, "1")
            self._db.commit()

    def forget_changes(self) -> None:
        """What the connection wrote is saved (or was loaded from the archive): nothing left to save."""
        self.changes, self.meta_changed, self.changed_keys = 0, False, set()

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.rollback()
            self._kinds.clear()  # a kind added in the transaction is gone

    def checkpoint(self) -> None:
        """Fold the WAL into the main file and empty it: the file alone is then the whole journal."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # meta ---------------------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        """A meta value the next pass relies on: a change marks the journal for saving."""
        if self.get_meta(name) == value:
            return
        self.meta_changed = True
        self.put_meta(name, value)

    def put_meta(self, name: str, value: str) -> None:
        """A meta value about the journal itself (archive bookkeeping): not a change to save."""
        self._db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                         (name, value))

    # rows ---------------------------------------------------------------------------------------
    def index_rows(self) -> Iterator[tuple[bytes, int]]:
        """``(key, packed)`` for every row (layout above :class:`Journal`)."""
        return self._db.execute(f"SELECT key, {_PACKED_SQL} FROM bans")

    def index_changes(self) -> Iterator[tuple[bytes, int | None]]:
        """``(key, packed)`` of every key written or deleted since the index's base; None: deleted."""
        return self._db.execute(f"SELECT c.key, CASE WHEN id IS NULL THEN NULL ELSE {_PACKED_SQL} END "
                                "FROM index_changes c LEFT JOIN bans b ON b.key = c.key")

    def index_change_count(self) -> int:
        count: int = self._db.execute("SELECT COUNT(*) FROM index_changes").fetchone()[0]
        return count

    def reset_index_changes(self) -> None:
        self._db.execute("DELETE FROM index_changes")

    def digests(self, ids: Sequence[int]) -> dict[int, int]:
        """``row id → value digest`` of ``ids`` that exist."""
        return dict(self._where_in("id, digest", "id", ids))

    def upsert_rows(self, rows: list[tuple[Any, ...]]) -> int:
        """Write rows shaped as :data:`ROW_COLUMNS` (what :func:`.entry.classify_row` returns)."""
        if not rows:
            return 0
        self.changes += len(rows)
        kinds = self._kinds
        # The kind as its id. sqlite3 binds bytes through its adapter lookup, bytearray directly: key and
        # value as bytearray cost 0.37 µs less per row, conversion included (300k rows: 0.63 → 0.52 s of binding and inserting).
        stored = [(bytearray(key), bytearray(value), crc, expires_ms, ip, kinds[kind], date, seen_ms)
                  for key, value, crc, expires_ms, ip, kind, date, seen_ms in rows]
        if self._load_counts is None:
            self._db.executemany(UPSERT, stored)
            self._note_changed([row[0] for row in rows])
            return len(rows)
        for start in range(0, len(stored), ROWS_PER_INSERT):  # a bulk load
            chunk = stored[start:start + ROWS_PER_INSERT]
            self._db.execute(insert_rows(len(chunk)), list(chain.from_iterable(chunk)))
        self._load_counts.update(map(_KIND_ID, stored))
        for copy in self.copies:
            copy.add(rows)
        if not self.copies:
            self._note_changed([row[0] for row in rows])
        return len(rows)

    @contextlib.contextmanager
    def bulk_load(self, *copies: LoadCopy) -> Iterator[None]:
        """Rows written into an empty journal go into a bare table (no key index, no count trigger, no date index);
        the indexes are built and the counts made once, at the end: a first pass writes every ban in Redis's (random)
        order, and a B-tree insert per row and index costs more than the rest of the pass. Only inside the caller's
        transaction, so a pass that dies half-way leaves the empty journal it found. A key written twice (``SCAN`` may
        return one twice) keeps its last row. An index base from before the journal emptied is voided (the pass writes one).
        With ``copies`` (the archive's and the index's bases, written from the rows as they come: bans/absorb.py) the
        loaded keys are not recorded as changes; from the load's end every change is, for both, as after any pass."""
        if not self._db.in_transaction or not self.is_empty():
            raise RuntimeError("Journal.bulk_load needs an open transaction on an empty journal")
        self._db.execute("DROP TABLE bans")  # its indexes and triggers with it
        self._db.execute(TABLE.format(unique=""))
        self._db.execute("DELETE FROM meta WHERE name = ?", (INDEX_TOKEN_META,))
        self.reset_index_changes()
        self.tracks_index = False
        self._load_counts, self.copies = Counter(), copies
        try:
            yield
        finally:
            counted, self._load_counts = self._load_counts, None
            if self._db.in_transaction:
                whole = build_loaded(self._db, counted)
                for copy in copies:
                    copy.close(whole)
                if copies:
                    self.changed_keys, self.tracks_index = set(), True

    def delete(self, keys: Iterable[bytes]) -> int:
        rows = [(key,) for key in keys]
        if rows:
            self._db.executemany("DELETE FROM bans WHERE key = ?", rows)
            self.changes += len(rows)
            self._note_changed([key for (key,) in rows])
        return len(rows)

    def rename(self, renames: Sequence[tuple[int, bytes, bytes]]) -> int:
        """New keys for rows, ``(row id, old key, new key)``, every other column kept (a mode switch renames a ban
        without changing it: bans/mode_switch.py); a row whose new key another row holds is deleted instead."""
        if not renames:
            return 0
        renamed = self._db.executemany("UPDATE OR IGNORE bans SET key = ? WHERE id = ?", [(new, row) for row, _, new in renames]).rowcount
        if renamed < len(renames):
            self._db.executemany("DELETE FROM bans WHERE id = ? AND key = ?", [(row, old) for row, old, _ in renames])
        self.changes += len(renames)
        self._note_changed([key for _, old, new in renames for key in (old, new)])
        return renamed

    def _note_changed(self, keys: list[bytes]) -> None:
        if self.tracks_index:
            self._db.executemany("INSERT OR IGNORE INTO index_changes VALUES (?)", ((key,) for key in keys))
        if self.changed_keys is not None:
            self.changed_keys.update(keys)
            if len(self.changed_keys) > CHANGED_KEYS_CAP:
                self.changed_keys = None

    def meta_items(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT name, value FROM meta"))

    def archive_rows(self, keys: Sequence[bytes] | None = None) -> Iterator[tuple[Any, ...]]:
        """``(key, value, expires_ms, seen_ms)`` of every row in the table's order (row ids ascending: read in key order, the
        pages come in random order, 3× the cost), or of those ``keys`` that exist."""
        if keys is None:
            yield from self._db.execute(f"SELECT {ARCHIVE_COLUMNS} FROM bans ORDER BY id")
            return
        yield from self._where_in(ARCHIVE_COLUMNS, "key", keys)

    def by_ids(self, ids: Sequence[int]) -> Iterator[Entry]:
        """The entries of ``ids`` that exist."""
        return map(Entry._make, self._where_in(_COLUMNS, "bans.id", ids, ENTRY_FROM))

    def rows_by_ids(self, ids: Sequence[int], columns: str = "key, value, expires_ms") -> Iterator[tuple[Any, ...]]:
        """:meth:`by_ids` as bare rows of ``columns`` (a restore needs no more than the default three)."""
        return self._where_in(columns, "id", ids)

    def known(self, keys: Sequence[bytes]) -> set[bytes]:
        """Which of ``keys`` the journal holds."""
        return {key for (key,) in self._where_in("key", "key", keys)}

    def _where_in(self, columns: str, column: str, values: Sequence[Any], source: str = "bans") -> Iterator[tuple[Any, ...]]:
        """``SELECT columns FROM source … WHERE column IN values``, :data:`_LOOKUP_CHUNK` values per query, each chunk
        fetched whole: no cursor stays open while the caller works on the rows (a restore writes Redis)."""
        for start in range(0, len(values), _LOOKUP_CHUNK):
            chunk = values[start:start + _LOOKUP_CHUNK]
            yield from self._db.execute(f"SELECT {columns} FROM {source} WHERE {column} IN ({','.join('?' * len(chunk))})",
                                        chunk).fetchall()

    def entries(self, ip: str | None = None, service: str | None = None, live_at_ms: int | None = None) -> Iterator[Entry]:
        """Journaled bans, newest first, optionally filtered (``live_at_ms``: not expired at that time)."""
        filters = [(condition, value) for condition, value in (("ip = ?", ip), ("k.service = ?", service),
                   ("(expires_ms IS NULL OR expires_ms > ?)", live_at_ms)) if value is not None]
        where, params = [condition for condition, _ in filters], [value for _, value in filters]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        for row in self._db.execute(f"SELECT {_COLUMNS} FROM {ENTRY_FROM} {clause} ORDER BY date DESC, key", params):
            yield Entry(*row)

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM bans LIMIT 1").fetchone() is None

    def count(self) -> int:
        count: int = self._db.execute("SELECT COALESCE(SUM(n), 0) FROM ban_kinds").fetchone()[0]
        return count

    def tally(self, column: str) -> dict[str, int]:
        """Journaled bans by ``scope``, ``service``, ``reason`` or ``malformed`` ('' for none), from the counts
        kept as rows are written: what the summary shows and the pass needs, without counting the journal."""
        if column not in ("scope", "service", "reason", "malformed"):
            raise ValueError(column)
        return dict(self._db.execute(f"SELECT COALESCE({column}, ''), SUM(n) FROM ban_kinds GROUP BY 1 HAVING SUM(n) > 0"))

    def counts_by(self, column: str, live_at_ms: int) -> dict[str, int]:
        """Live bans grouped by ``scope``, ``reason`` or ``malformed`` (for the UI summary)."""
        if column not in ("scope", "reason", "malformed"):
            raise ValueError(column)
        rows = self._db.execute(
            f"SELECT COALESCE({column}, ''), SUM(live) FROM (SELECT kind, COUNT(*) AS live FROM bans "
            "WHERE expires_ms IS NULL OR expires_ms > ? GROUP BY kind) JOIN ban_kinds ON id = kind GROUP BY 1",
            (live_at_ms,),
        )
        return {name: count for name, count in rows}

    def malformed_counts(self) -> dict[str, int]:
        """Journaled bans kept as-is although odd (not JSON, binary, too large, odd key), by label (a ban's kind is more)."""
        return {label: count for label, count in self.tally("malformed").items() if label}

    def most_recent(self, limit: int, live_at_ms: int) -> list[Entry]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM {ENTRY_FROM} WHERE expires_ms IS NULL OR expires_ms > ? ORDER BY date DESC LIMIT ?",
            (live_at_ms, limit),
        )
        return [Entry(*row) for row in rows]
