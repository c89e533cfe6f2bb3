"""The ban journal's SQLite schema (bans/journal.py): the tables, their indexes, the triggers that keep the counts, and
the migration of an older journal.

A ban's ``kind`` (scope, service, reason, malformed: what the listing and the summary group by) is stored once, in
``ban_kinds``, and each row holds its id: a row binds 8 parameters instead of 11, four of them often NULL (sqlite3 binds
None and bytes through its adapter lookup: ≈ 0.25 µs each). ``ban_kinds.n`` counts the rows of each kind, kept by the
triggers (every writer, same transaction), so that neither the summary nor a pass ever counts a large journal. A kind
no row holds any more keeps its row (n = 0), as the counts did before. A bulk load (``Journal.bulk_load``) writes into
a bare :data:`TABLE` and builds the rest once, at its end.
"""

from __future__ import annotations

import functools
import sqlite3
from collections import Counter
from typing import cast

from ..errors import NewerJournal
from .entry import ROW_COLUMNS, Kind

SCHEMA_VERSION = "3"  # 2: counts kept by triggers, the date index; 3: ban_kinds (versions 1 and 2 migrated on open: prepare)
TABLE = """
CREATE TABLE IF NOT EXISTS bans (
    id         INTEGER PRIMARY KEY,
    key        BLOB NOT NULL{unique},
    value      BLOB NOT NULL,
    digest     INTEGER NOT NULL,
    expires_ms INTEGER,
    ip         TEXT,
    kind       INTEGER NOT NULL,
    date       REAL,
    seen_ms    INTEGER NOT NULL
)"""
DATE_INDEX = "CREATE INDEX IF NOT EXISTS bans_date ON bans(date)"
KEY_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS bans_key ON bans(key)"  # a bulk-loaded table's (Journal.bulk_load)
TRIGGERS = ("""CREATE TRIGGER IF NOT EXISTS ban_counted AFTER INSERT ON bans BEGIN
    UPDATE ban_kinds SET n = n + 1 WHERE id = NEW.kind;
END""", """CREATE TRIGGER IF NOT EXISTS ban_uncounted AFTER DELETE ON bans BEGIN
    UPDATE ban_kinds SET n = n - 1 WHERE id = OLD.kind;
END""", """CREATE TRIGGER IF NOT EXISTS ban_recounted AFTER UPDATE OF kind ON bans BEGIN
    UPDATE ban_kinds SET n = n - 1 WHERE id = OLD.kind;
    UPDATE ban_kinds SET n = n + 1 WHERE id = NEW.kind;
END""")
# NULL is a value of a kind's column, not '' (a ban's reason may be either): kinds are found with IS, so no UNIQUE
# constraint (NULLs are distinct to it) but the one writer (the pass lock) adding a kind only when not found.
KINDS = """CREATE TABLE IF NOT EXISTS ban_kinds (
    id INTEGER PRIMARY KEY, scope TEXT, service TEXT, reason TEXT, malformed TEXT, n INTEGER NOT NULL DEFAULT 0
)"""
KINDS_INDEX = "CREATE INDEX IF NOT EXISTS ban_kinds_named ON ban_kinds(scope, service, reason, malformed)"
SCHEMA = ";\n".join([TABLE.format(unique=" UNIQUE"), """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS index_changes (key BLOB PRIMARY KEY) WITHOUT ROWID""", KINDS, KINDS_INDEX, DATE_INDEX,
                      *TRIGGERS]) + ";"
ENTRY_FROM = "bans JOIN ban_kinds k ON k.id = bans.kind"  # a row with its kind's columns (an Entry's)

_ROW_VALUES = "(?,?,?,?,?,?,?,?)"  # one per ROW_COLUMNS
INSERT = f"INSERT INTO bans ({ROW_COLUMNS}) VALUES {_ROW_VALUES}"
UPSERT = (
    f"{INSERT} ON CONFLICT(key) DO UPDATE SET "
    "value = excluded.value, digest = excluded.digest, expires_ms = excluded.expires_ms, ip = excluded.ip, "
    "kind = excluded.kind, date = excluded.date")
ROWS_PER_INSERT = 999 // 8  # a bulk load's rows per statement (8 parameters each), under SQLite's 999 before 3.32


@functools.cache
def insert_rows(count: int) -> str:
    """One ``INSERT`` of ``count`` rows: a bulk load binds its rows' values flat, a statement per
    :data:`ROWS_PER_INSERT` rows, which costs 15 % less than ``executemany`` (a step, a reset per row)."""
    return INSERT + f",{_ROW_VALUES}" * (count - 1)


class KindIds(dict[Kind, int]):
    """ban_kinds' ids by kind, read or added as rows need them. Emptied by the journal where a transaction starts or
    is rolled back (a kind added in it would be gone)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__()
        self._db = db

    def __missing__(self, kind: Kind) -> int:
        found = self._db.execute(
            "SELECT id FROM ban_kinds WHERE scope IS ? AND service IS ? AND reason IS ? AND malformed IS ?", kind).fetchone()
        kind_id = cast("int", found[0] if found else self._db.execute(
            "INSERT INTO ban_kinds (scope, service, reason, malformed) VALUES (?, ?, ?, ?)", kind).lastrowid)
        self[kind] = kind_id
        return kind_id


def build_loaded(db: sqlite3.Connection, counted: Counter[int]) -> bool:
    """After a bulk load: the key and date indexes, the triggers, and the counts: those of the kinds counted as rows were
    loaded (in C, ≈ 0.1 µs per ban, where ``GROUP BY`` costs 0.9), unless a key was loaded twice (its earlier rows are
    deleted, the rest counted again). Whether every loaded row was kept."""
    whole = True
    try:
        db.execute(KEY_INDEX)
    except sqlite3.IntegrityError:
        db.execute("DELETE FROM bans WHERE id NOT IN (SELECT MAX(id) FROM bans GROUP BY key)")
        db.execute(KEY_INDEX)
        whole = False
    for statement in (DATE_INDEX, *TRIGGERS):
        db.execute(statement)
    set_counts(db, counted if whole else None)
    return whole


def set_counts(db: sqlite3.Connection, counted: Counter[int] | None = None) -> None:
    """Every kind's count: ``counted`` (kind id → rows), or counted from the rows."""
    if counted is None:
        counted = Counter(dict(db.execute("SELECT kind, COUNT(*) FROM bans GROUP BY kind")))
    db.execute("UPDATE ban_kinds SET n = 0")
    db.executemany("UPDATE ban_kinds SET n = ? WHERE id = ?", [(count, kind) for kind, count in counted.items()])


_OLD_INDEXES = ("bans_malformed", "bans_date", "bans_key")  # version 1's, version 2's and a bulk-loaded table's
_OLD_TRIGGERS = ("ban_counted", "ban_uncounted", "ban_recounted")


def prepare(db: sqlite3.Connection) -> None:
    """The schema of a journal just opened: created, or an older one's migrated (once: checked again under the write
    lock). A later version's is refused (:class:`NewerJournal`), never taken as ours."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        stored = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if stored and int(stored[0]) > int(SCHEMA_VERSION):
            raise NewerJournal(f"the bans journal's working copy has schema version {stored[0]}, which a later redissync wrote "
                               f"(this one reads up to version {SCHEMA_VERSION})")
    if _has_kind_columns(db):
        with db:
            db.execute("BEGIN IMMEDIATE")
            if _has_kind_columns(db):
                migrate(db)
    db.executescript(SCHEMA)


def _has_kind_columns(db: sqlite3.Connection) -> bool:
    """Whether the bans table holds a kind's four columns in every row (versions 1 and 2: :func:`migrate`)."""
    return any(column == "service" for _, column, *_ in db.execute("PRAGMA table_info(bans)"))


def migrate(db: sqlite3.Connection) -> None:
    """A version 1 or 2 journal (the four kind columns in every row; version 2's counts in ``ban_counts``) rewritten as
    version 3, row ids kept (the index's base holds them: bans/index.py), in the caller's transaction."""
    for name in _OLD_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    for name in _OLD_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")
    db.execute("DROP TABLE IF EXISTS ban_counts")
    db.execute("ALTER TABLE bans RENAME TO bans_old")
    for statement in (TABLE.format(unique=" UNIQUE"), KINDS, KINDS_INDEX):
        db.execute(statement)
    db.execute("INSERT INTO ban_kinds (scope, service, reason, malformed) "
               "SELECT DISTINCT scope, service, reason, malformed FROM bans_old")
    db.execute(f"INSERT INTO bans (id, {ROW_COLUMNS}) SELECT o.id, key, value, digest, expires_ms, ip, k.id, date, seen_ms "
               "FROM bans_old o JOIN ban_kinds k ON k.scope IS o.scope AND k.service IS o.service "
               "AND k.reason IS o.reason AND k.malformed IS o.malformed")
    db.execute("DROP TABLE bans_old")
    for statement in (DATE_INDEX, *TRIGGERS):
        db.execute(statement)
    set_counts(db)
