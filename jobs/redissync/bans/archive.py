"""The ban journal's persisted form: a compressed base plus small deltas in the job's state.

Why: inside BunkerWeb every job run starts from the *database* copy of its cache (``Job`` restores it and
deletes local files the database lacks), and that database may be MariaDB with a 16 MiB packet limit.
Uploading the whole SQLite journal (≈ 290 B per ban) after every change does not scale; so the state
(BunkerWeb's job cache, or the state directory: :class:`StateStore` makes them one) holds instead:

* ``bans-base-<epoch>-<n>.bin``: every row, in the journal's order, in zlib-compressed frames of at most
  :data:`FRAME_ROWS` rows; the byte stream is cut into files of at most :data:`PART_BYTES` (8 MiB);
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
import marshal
import sqlite3
import struct
import uuid
import zlib
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ..errors import ArchiveError, NewerJournal
from ..state import StateStore
from .entry import classify_row, row_getter
from .index import MARSHAL_VERSION
from .journal import ARCHIVE_COLUMNS, INDEX_NAME, INDEX_SIZE_META, INDEX_TOKEN_META, JOURNAL_NAME, UNSAVED_META, VERIFY_SLICE_META, Journal

MANIFEST = "bans-manifest.json"
PREFIX = "bans-"
FORMAT = 1
PART_BYTES = 8 * 1024 * 1024  # no cached file above 8 MiB (MariaDB's default max_allowed_packet is 16 MiB)
FRAME_ROWS = 20_000  # rows per compressed frame: bounds the memory of a save or a rebuild
REBASE_FRACTION = 0.25  # rewrite the base once the deltas weigh more than this share of it …
REBASE_MIN_BYTES = 256 * 1024  # … and more than this (a small journal is cheap to rewrite anyway)
# zlib levels. A base holds every row (a first pass writes one): level 3 costs half of level 6's CPU (300k bans: 1.6
# against 3.2 µs per ban) for 16 % more bytes (21.8 against 18.8 B per ban, BunkerWeb-shaped values); a delta is small.
BASE_LEVEL, DELTA_LEVEL = 3, 6
MAX_DELTAS = 256  # and at the latest after this many deltas (each costs a read on rebuild)
ARCHIVE_META = "archive"  # the manifest token ("<epoch>:<seq>") the working copy matches
_LOCAL_META = {ARCHIVE_META, UNSAVED_META, "schema", INDEX_TOKEN_META, INDEX_SIZE_META, VERIFY_SLICE_META}
_WORKING_FILES = [f"{JOURNAL_NAME}{suffix}" for suffix in ("", "-wal", "-shm")] + [INDEX_NAME]
_LEGACY_FILES = set(_WORKING_FILES)  # what older versions kept beside the state (outside BunkerWeb, in it)
_MAGIC = b"RSJ1"
_FRAME_HEAD = struct.Struct(">II")  # compressed length, CRC-32 of the compressed bytes
_PERMANENT = -1


@dataclass
class SaveStats:
    kind: str = ""  # "", "delta" or "base"
    bytes_written: int = 0
    largest_file: int = 0


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
        stream = _write_stream(state, f"{PREFIX}delta-{manifest['epoch']}-{manifest['seq'] + 1:06d}",
                               _frames(present, deleted), stats) if keys else []
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
def _frames(rows: list[tuple[Any, ...]] | Iterator[tuple[Any, ...]], deleted: Sequence[bytes] = (),
            level: int = DELTA_LEVEL) -> Iterator[bytes]:
    """Columnar frames (keys, values, expiries, seen, deleted keys): marshal is C-fast and exact for
    bytes, and one column of similar values compresses far better than interleaved rows."""
    walk = iter(rows)
    while len(batch := list(islice(walk, FRAME_ROWS))) == FRAME_ROWS:  # sliced in C: once per row
        yield _frame(list(zip(*batch, strict=True)), [], level)
    if batch or deleted:
        yield _frame(list(zip(*batch, strict=True)) or [(), (), (), ()], list(deleted), level)


def _frame(columns: Sequence[Sequence[Any]], deleted: list[bytes], level: int) -> bytes:
    """One frame from its rows' columns (:data:`ARCHIVE_COLUMNS`) and deleted keys, marshalled and compressed."""
    keys, values, expires, seen = (list(column) for column in columns)
    expiries = array("q", [_PERMANENT if ms is None else ms for ms in expires]).tobytes()
    compressed = zlib.compress(marshal.dumps((keys, values, expiries, array("q", seen).tobytes(), deleted), MARSHAL_VERSION), level)
    return _FRAME_HEAD.pack(len(compressed), zlib.crc32(compressed)) + compressed


def _write_stream(state: StateStore, stem: str, frames: Iterator[bytes], stats: SaveStats) -> list[list[Any]]:
    """Frames as one byte stream cut into files of at most :data:`PART_BYTES`; returns [[name, size, crc], …]."""
    parts: list[list[Any]] = []
    buffer = bytearray(_MAGIC)

    def flush(data: bytes) -> None:
        name = f"{stem}-{len(parts):03d}.bin"
        state.write(name, data)
        parts.append([name, len(data), zlib.crc32(data)])
        stats.bytes_written += len(data)
        stats.largest_file = max(stats.largest_file, len(data))

    for frame in frames:
        buffer += frame
        while len(buffer) >= PART_BYTES:
            flush(bytes(buffer[:PART_BYTES]))
            del buffer[:PART_BYTES]
    if buffer:
        flush(bytes(buffer))
    return parts


def _write_base(state: StateStore, journal: Journal, stats: SaveStats) -> dict[str, Any]:
    return _base_manifest(state, _frames(journal.archive_rows(), level=BASE_LEVEL), stats)


def _base_manifest(state: StateStore, frames: Iterator[bytes], stats: SaveStats) -> dict[str, Any]:
    epoch = uuid.uuid4().hex[:12]
    stats.kind = "base"
    base = _write_stream(state, f"{PREFIX}base-{epoch}", frames, stats)
    return {"format": FORMAT, "epoch": epoch, "seq": 0, "base": base, "deltas": []}


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
        if len(self._columns[0]) >= FRAME_ROWS:
            self._flush()

    def close(self, whole: bool) -> None:
        if self._columns[0]:
            self._flush()
        self._compressor.shutdown(wait=True)

    def frames(self) -> Iterator[bytes]:
        return (frame.result() for frame in self._frames)

    def _flush(self) -> None:
        self._frames.append(self._compressor.submit(_frame, self._columns, [], BASE_LEVEL))  # marshalled there too
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
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


def _read_stream(state: StateStore, parts: list[list[Any]]) -> Iterator[tuple[Any, ...]]:
    """Decoded frames of one stream, each file checked against the manifest before use."""
    buffer = bytearray()
    for number, (name, size, crc) in enumerate(parts):
        data = state.read(name)
        if data is None or len(data) != size or zlib.crc32(data) != crc:
            raise ArchiveError(f"the bans archive file {name} is missing or damaged in BunkerWeb's job cache")
        buffer += data
        if number == 0:
            if not buffer.startswith(_MAGIC):
                raise ArchiveError(f"the bans archive file {name} is not in format {FORMAT}")
            del buffer[:len(_MAGIC)]
        while len(buffer) >= _FRAME_HEAD.size:
            length, frame_crc = _FRAME_HEAD.unpack_from(buffer)
            if len(buffer) < _FRAME_HEAD.size + length:
                break
            payload = bytes(buffer[_FRAME_HEAD.size:_FRAME_HEAD.size + length])
            del buffer[:_FRAME_HEAD.size + length]
            if zlib.crc32(payload) != frame_crc:
                raise ArchiveError(f"a frame of the bans archive file {name} is damaged")
            yield marshal.loads(zlib.decompress(payload))
    if buffer:
        raise ArchiveError(f"the bans archive ends inside a frame ({parts[-1][0]})")


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
        for keys, values, expiries, seen, deleted in _read_stream(state, stream):
            stamps = array("q")
            stamps.frombytes(seen)
            ends = array("q")
            ends.frombytes(expiries)
            journal.upsert_rows([classify_row(key, value, None if end == _PERMANENT else end, stamp)
                                 for key, value, end, stamp in zip(keys, values, ends, stamps, strict=True)])
            journal.delete(deleted)
    for name, value in manifest.get("meta", {}).items():
        journal.put_meta(name, value)
    journal.put_meta(ARCHIVE_META, _token(manifest))
    journal.put_meta(UNSAVED_META, "0")
    journal.forget_changes()
    journal.commit()
    return journal
