"""The ban journal's persisted form: a compressed base plus small deltas in the job's state.

Why: inside BunkerWeb every job run starts from the *database* copy of its cache (``Job`` restores it and
deletes local files the database lacks), and that database may be MariaDB with a 16 MiB packet limit.
Uploading the whole SQLite journal (≈ 290 B per ban) after every change does not scale; so the state
(BunkerWeb's job cache, or the state directory: :class:`StateStore` makes them one) holds instead:

* ``bans-base-<epoch>-<n>.bin``: every row, in the journal's order, in zlib-compressed frames of at most 20,000
  rows; the byte stream is cut into files of at most 8 MiB (their bytes: bans/framing.py);
* ``bans-delta-<epoch>-<seq>-<n>.bin``: what one pass changed (rows written, keys deleted), same framing;
* ``bans-manifest.json``, written **last**: the base's and every delta's files with their size and CRC,
  and the journal's meta (the Redis identity record the next pass judges from).

A file the manifest does not name (a crash mid-upload, a torn row) is ignored, then deleted by the next
save; a named file that fails its CRC stops the job (exit 2) rather than load a damaged journal. A first pass
compresses its base from the rows it loads (:class:`LoadedBase`); the base is rewritten (a new epoch) only when the
deltas outgrow :data:`REBASE_FRACTION` of it.

The SQLite journal is a *working copy* in ``StateStore.work_directory``, valid only while its recorded
manifest token matches the manifest and no commit is unsaved (``Journal.commit`` marks it). Anything
else — a new container, a crash between writing Redis and saving — rebuilds it from the archive: the
next pass then judges from the last *saved* identity and restores once more (the safe mistake).
One path in and out of BunkerWeb: what a test or ``make demo`` runs is what runs inside it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from array import array
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..errors import NewerJournal
from ..state import StateStore
from . import framing
from .entry import classify_row, row_getter
from .framing import SaveStats
from .journal import ARCHIVE_COLUMNS, INDEX_NAME, INDEX_SIZE_META, INDEX_TOKEN_META, JOURNAL_NAME, UNSAVED_META, VERIFY_SLICE_META, Journal

MANIFEST = "bans-manifest.json"
PREFIX = "bans-"
REBASE_FRACTION = 0.25  # rewrite the base once the deltas weigh more than this share of it …
REBASE_MIN_BYTES = 256 * 1024  # … and more than this (a small journal is cheap to rewrite anyway)
MAX_DELTAS = 256  # and at the latest after this many deltas (each costs a read on rebuild)
ARCHIVE_META = "archive"  # the manifest token ("<epoch>:<seq>") the working copy matches
_LOCAL_META = {ARCHIVE_META, UNSAVED_META, "schema", INDEX_TOKEN_META, INDEX_SIZE_META, VERIFY_SLICE_META}
_WORKING_FILES = [f"{JOURNAL_NAME}{suffix}" for suffix in ("", "-wal", "-shm")] + [INDEX_NAME]
_LEGACY_FILES = set(_WORKING_FILES)  # what older versions kept beside the state (outside BunkerWeb, in it)


def open_journal(state: StateStore, readonly: bool = False) -> Journal:
    """The journal as the last completed pass left it (rebuilt from the archive when the working copy does not match
    it). ``readonly`` when nothing is journaled yet: an empty in-memory journal, so a listing creates no file."""
    manifest = _read_manifest(state)
    if manifest is None and readonly and JOURNAL_NAME not in state.names(JOURNAL_NAME):
        _discard_working_copy(state)  # what a cut-short erase left
        return Journal.in_directory(state.work_directory, readonly=True)
    try:
        journal = Journal.in_directory(state.work_directory)
    except NewerJournal:  # a later version's working copy (this one was gone back to): this version's rebuilt
        return _rebuild(state, manifest)
    if manifest is not None and journal.get_meta(ARCHIVE_META) == _token(manifest) and journal.get_meta(UNSAVED_META) != "1":
        return journal
    journal.close()
    return _rebuild(state, manifest)


def save(state: StateStore, journal: Journal) -> SaveStats:
    """After a committed pass: store what changed (a delta, or a new base) and then the manifest."""
    stats = SaveStats()
    if journal.get_meta(UNSAVED_META) != "1":
        return stats
    loaded = next((copy for copy in journal.copies if isinstance(copy, LoadedBase)), None)
    manifest = _read_manifest(state) if loaded is None else _base_manifest(state, loaded.frames(), stats)
    keys = sorted(journal.changed_keys) if journal.changed_keys is not None else None
    if manifest is None or keys is None:
        manifest = _write_base(state, journal, stats)
    else:
        present = list(journal.archive_rows(keys))
        deleted = sorted(set(keys) - {row[0] for row in present})
        stream = framing.write_stream(state, f"{PREFIX}delta-{manifest['epoch']}-{manifest['seq'] + 1:06d}",
                                      framing.frames(present, deleted), stats) if keys else []
        deltas = manifest["deltas"] + ([stream] if stream else [])
        delta_bytes = sum(size for delta in deltas for _, size, _ in delta)
        base_bytes = sum(size for _, size, _ in manifest["base"])
        if len(deltas) > MAX_DELTAS or delta_bytes > max(REBASE_FRACTION * base_bytes, REBASE_MIN_BYTES):
            manifest = _write_base(state, journal, stats)
        else:
            manifest = {**manifest, "seq": manifest["seq"] + 1, "deltas": deltas}
    manifest["meta"] = {name: value for name, value in journal.meta_items().items() if name not in _LOCAL_META}
    manifest["bans"] = journal.count()
    data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    state.write(MANIFEST, data)
    stats.bytes_written += len(data)
    _delete_unlisted(state, manifest)
    journal.put_meta(ARCHIVE_META, _token(manifest))
    journal.put_meta(UNSAVED_META, "0")
    journal.forget_changes()
    return stats


def erase(state: StateStore) -> None:
    """Erase the journal, archive and working copy, the Redis identity record included (``bans forget
    --all``): the next pass is a first pass. The manifest goes first, so a crash half-way leaves only
    unlisted files (ignored, then deleted)."""
    state.delete(MANIFEST)
    for name in state.names(PREFIX):
        if name.endswith(".bin") or name in _LEGACY_FILES:
            state.delete(name)
    _discard_working_copy(state)


def _discard_working_copy(state: StateStore) -> None:
    for name in _WORKING_FILES:
        (state.work_directory / name).unlink(missing_ok=True)


# writing ---------------------------------------------------------------------------------------------
def _write_base(state: StateStore, journal: Journal, stats: SaveStats) -> dict[str, Any]:
    return _base_manifest(state, framing.frames(journal.archive_rows(), level=framing.BASE_LEVEL), stats)


def _base_manifest(state: StateStore, frames: Iterator[bytes], stats: SaveStats) -> dict[str, Any]:
    epoch = uuid.uuid4().hex[:12]
    stats.kind = "base"
    base = framing.write_stream(state, f"{PREFIX}base-{epoch}", frames, stats)
    return {"format": framing.FORMAT, "epoch": epoch, "seq": 0, "base": base, "deltas": []}


class LoadedBase:
    """The base's frames compressed as a first pass's bulk load writes its rows (a ``Journal.bulk_load`` copy), so that
    :func:`save` stores them without reading the journal back; the pass's later changes are a delta on top. A key
    loaded twice is in it twice, its last row last: a rebuild keeps that one, as the journal did. A thread compresses
    (zlib lets go of the GIL: ≈ 0.7 µs per ban off the pass's own thread; marshal does not, but runs while the pass's
    thread waits on SQLite); the frames are held compressed (≈ 20 B per ban) until the pass saves."""

    def __init__(self) -> None:
        self._columns: tuple[list[Any], ...] = ([], [], [], [])  # ARCHIVE_COLUMNS
        self._frames: list[Future[bytes]] = []
        self._compressor = ThreadPoolExecutor(1, thread_name_prefix="redissync-bans-archive")  # its thread: at the first frame

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        for column, pick in zip(self._columns, _ARCHIVED, strict=True):
            column += map(pick, rows)  # in C: no tuple per row
        if len(self._columns[0]) >= framing.FRAME_ROWS:
            self._flush()

    def close(self, whole: bool) -> None:
        if self._columns[0]:
            self._flush()
        self._compressor.shutdown(wait=True)

    def frames(self) -> Iterator[bytes]:
        return (frame.result() for frame in self._frames)

    def _flush(self) -> None:
        self._frames.append(self._compressor.submit(framing.frame, self._columns, [], framing.BASE_LEVEL))  # marshalled there too
        self._columns = ([], [], [], [])


_ARCHIVED = [row_getter(name) for name in ARCHIVE_COLUMNS.split(", ")]


def _delete_unlisted(state: StateStore, manifest: dict[str, Any]) -> None:
    """Files of older epochs, of uploads a crash cut short, and the old single-file journal."""
    listed = {name for name, _, _ in manifest["base"]} | {name for delta in manifest["deltas"] for name, _, _ in delta}
    for name in state.names(PREFIX):
        if (name.endswith(".bin") and name not in listed) or name in _LEGACY_FILES:
            state.delete(name)


def stored_bytes(state: StateStore) -> int | None:
    """What the journal occupies where it persists (inside BunkerWeb, the database's job cache): the archive's
    files and manifest. None when there is no journal yet."""
    manifest = _read_manifest(state)
    if manifest is None:
        return None
    listed = [manifest["base"], *manifest["deltas"]]
    listed_bytes: int = sum(size for stream in listed for _, size, _ in stream)
    return listed_bytes + len(state.read(MANIFEST) or b"")


# reading ---------------------------------------------------------------------------------------------
def _token(manifest: dict[str, Any]) -> str:
    return f"{manifest['epoch']}:{manifest['seq']}"


def _read_manifest(state: StateStore) -> dict[str, Any] | None:
    manifest = state.read_json(MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != framing.FORMAT:
        return None
    return manifest


def _rebuild(state: StateStore, manifest: dict[str, Any] | None) -> Journal:
    """A fresh working copy from the archive, or from the single-file journal older versions cached."""
    directory = state.work_directory
    _discard_working_copy(state)
    legacy = state.directory / JOURNAL_NAME
    if manifest is None and legacy.is_file():
        old = sqlite3.connect(legacy)  # not a Journal: the file stays as that version wrote it (it can go back to it)
        old.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # outside BunkerWeb its last commits may be in its WAL
        old.close()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / JOURNAL_NAME).write_bytes(legacy.read_bytes())
        journal = Journal.in_directory(directory)
        journal.changed_keys = None  # the first save writes a base and deletes the old file
        journal.begin()
        journal.put_meta(UNSAVED_META, "1")
        journal.commit()
        return journal
    journal = Journal.in_directory(directory)
    if manifest is None:
        return journal
    journal.begin()
    for stream in [manifest["base"], *manifest["deltas"]]:
        for keys, values, expiries, seen, deleted in framing.read_stream(state, stream):
            stamps = array("q")
            stamps.frombytes(seen)
            ends = array("q")
            ends.frombytes(expiries)
            journal.upsert_rows([classify_row(key, value, None if end == framing.PERMANENT else end, stamp)
                                 for key, value, end, stamp in zip(keys, values, ends, stamps, strict=True)])
            journal.delete(deleted)
    for name, value in manifest.get("meta", {}).items():
        journal.put_meta(name, value)
    journal.put_meta(ARCHIVE_META, _token(manifest))
    journal.put_meta(UNSAVED_META, "0")
    journal.forget_changes()
    journal.commit()
    return journal
