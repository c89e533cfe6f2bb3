"""Versions 1 and 2 of the ban journal as they created it (bans/schema.py before version 3), for the migration tests:
the kind's four columns in every row; version 2 added ban_counts, its triggers and the date index (version 1, which
1.0.0 cached in the job cache, had a malformed index); a version 2 journal a first pass wrote has its keys unique by an
index rather than the table's constraint."""

from __future__ import annotations

import sqlite3
from pathlib import Path

_OLD_TABLE = """CREATE TABLE bans (id INTEGER PRIMARY KEY, key BLOB NOT NULL{unique}, value BLOB NOT NULL, digest INTEGER NOT NULL,
    expires_ms INTEGER, ip TEXT, service TEXT, scope TEXT, reason TEXT, date REAL, malformed TEXT, seen_ms INTEGER NOT NULL);
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '{version}'), ('identity', 'kept');"""
OLD_SCHEMAS = {
    "1": _OLD_TABLE.format(unique=" UNIQUE", version=1)
    + "CREATE INDEX bans_malformed ON bans(malformed) WHERE malformed IS NOT NULL;",
    "2": _OLD_TABLE.format(unique=" UNIQUE", version=2) + """
CREATE TABLE index_changes (key BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE ban_counts (scope TEXT NOT NULL, service TEXT NOT NULL, reason TEXT NOT NULL, malformed TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY (scope, service, reason, malformed)) WITHOUT ROWID;
CREATE INDEX bans_date ON bans(date);
CREATE TRIGGER ban_counted AFTER INSERT ON bans BEGIN INSERT INTO ban_counts VALUES (COALESCE(NEW.scope, ''),
    COALESCE(NEW.service, ''), COALESCE(NEW.reason, ''), COALESCE(NEW.malformed, ''), 1) ON CONFLICT DO UPDATE SET n = n + 1; END;""",
}
OLD_SCHEMAS["2, bulk-loaded"] = OLD_SCHEMAS["2"].replace("key BLOB NOT NULL UNIQUE", "key BLOB NOT NULL") \
    + "CREATE UNIQUE INDEX bans_key ON bans(key);"


def write_old_journal(path: Path, version: str, rows: list[tuple], first_id: int = 7) -> None:
    """A journal of ``version`` (a key of :data:`OLD_SCHEMAS`) holding ``rows`` (shaped as ``entry.classify_row``
    returns them), row ids ``first_id``, ``first_id + 3`` … (not 1, 2 …: a migration must keep them)."""
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(OLD_SCHEMAS[version])
    for number, (key, value, crc, expires_ms, ip, (scope, service, reason, malformed), date, seen) in enumerate(rows):
        old.execute("INSERT INTO bans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (3 * number + first_id, key, value, crc, expires_ms, ip, service, scope, reason, date, malformed, seen))
    old.close()


def columns(path: Path) -> list[str]:
    """The bans table's columns in the file at ``path``, read without migrating it."""
    with sqlite3.connect(path) as db:
        return [name for _, name, *_ in db.execute("PRAGMA table_info(bans)")]
