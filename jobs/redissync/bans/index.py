"""The journal's index kept on disk next to it, so that a pass loads it instead of rebuilding it from SQLite.

The index (``slot(key) → packed int``: row id and expiry field, journal.py's layout) is what a pass compares
Redis against. Rebuilt from the journal it costs a SQLite read of every row (≈ 1 µs per ban, on every
pass); loaded from its base it costs a tenth of that. It is kept as:

* ``bans-journal.index`` next to the journal (inside BunkerWeb next to the working copy, outside the job
  cache: it costs BunkerWeb's database nothing, and a new container rebuilds it once): every key and its
  packed entry in marshal frames of :data:`FRAME_KEYS`, after a header with the token the journal records
  for it (meta ``index_token``);
* the keys written or deleted since, in the journal's ``index_changes`` table, written in the same
  transaction as the rows (:meth:`.journal.Journal.upsert_rows`) and read back with their current rows.

Keys, not their hashes, are stored: ``hash()`` of bytes is keyed per process, which is what keeps the table
safe from crafted collisions. The base is rewritten after a pass that found none valid, or whose changes
since outgrow :data:`REWRITE_FRACTION` of it. A crash between writing the file and committing its token
leaves the two apart: the next pass rebuilds from the journal, which is always the truth.
"""

from __future__ import annotations

import marshal
import os
import struct
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from .journal import INDEX_NAME, INDEX_SIZE_META, INDEX_TOKEN_META, Journal

FRAME_KEYS = 20_000  # keys per frame: bounds what a load or a write holds beyond the index itself
REWRITE_FRACTION = 0.1  # rewrite the base once the keys changed since outnumber this share of it …
REWRITE_MIN = 5_000  # … and this many
_HEAD = struct.Struct(">4s32sQ")  # magic, token, entries
_MAGIC = b"RSI1"
_FRAME = struct.Struct(">I")
# The index's key for a ban key is ``hash(key) >> SLOT_SHIFT``: 60 bits, a two-digit int (32 bytes rather than
# 40: 8 MB at 1M bans).
SLOT_SHIFT = 4


def load(journal: Journal) -> tuple[dict[int, int], bool]:
    """The index of every journaled ban, and whether a valid base gave it (False: rebuilt from the journal;
    the pass then writes a base). From here on the journal records the keys it writes for the next load."""
    token = journal.get_meta(INDEX_TOKEN_META)
    journal.tracks_index = token is not None
    index: dict[int, int] = {}
    if token is not None and _read_base(journal.path.with_name(INDEX_NAME), token, index):
        for key, packed in journal.index_changes():
            if packed is None:
                index.pop(hash(key) >> SLOT_SHIFT, None)
            else:
                index[hash(key) >> SLOT_SHIFT] = packed
        return index, True
    index.clear()
    for key, packed in journal.index_rows():
        index[hash(key) >> SLOT_SHIFT] = packed
    return index, False


def save_if_due(journal: Journal, loaded_from_base: bool) -> bool:
    """After a committed pass: write a new base when there is no valid one or the changes outgrew it."""
    if loaded_from_base and journal.get_meta(INDEX_TOKEN_META) is not None:
        based = int(journal.get_meta(INDEX_SIZE_META) or 0)
        if journal.index_change_count() <= max(REWRITE_MIN, REWRITE_FRACTION * based):
            return False
    write_base(journal)
    return True


def write_base(journal: Journal) -> None:
    """The base from the committed journal; then its token recorded and the changes forgotten (one commit)."""
    token = uuid.uuid4().hex
    path = journal.path.with_name(INDEX_NAME)
    temporary = path.with_name(f".{path.name}.{token[:8]}")
    try:
        count = _write(temporary, token, journal.index_rows())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    journal.begin()
    journal.reset_index_changes()
    journal.put_meta(INDEX_TOKEN_META, token)
    journal.put_meta(INDEX_SIZE_META, str(count))
    journal.commit()
    journal.tracks_index = True


def _write(path: Path, token: str, rows: Iterable[tuple[bytes, int]]) -> int:
    count = 0
    with open(path, "wb") as handle:
        handle.write(_HEAD.pack(_MAGIC, token.encode(), 0))
        for keys, packed in _frames(rows):
            frame = marshal.dumps((keys, packed), 4)
            handle.write(_FRAME.pack(len(frame)) + frame)
            count += len(keys)
        handle.seek(0)
        handle.write(_HEAD.pack(_MAGIC, token.encode(), count))
        handle.flush()
        os.fsync(handle.fileno())
    return count


def _frames(rows: Iterable[tuple[bytes, int]]) -> Iterator[tuple[list[bytes], list[int]]]:
    keys: list[bytes] = []
    packed: list[int] = []
    for key, entry in rows:
        keys.append(key)
        packed.append(entry)
        if len(keys) >= FRAME_KEYS:
            yield keys, packed
            keys, packed = [], []
    if keys:
        yield keys, packed


def _read_base(path: Path, token: str, index: dict[int, int]) -> bool:
    """Fill ``index`` from the base when it carries ``token`` and is whole; False otherwise."""
    try:
        handle = open(path, "rb")  # noqa: SIM115  (a context manager below; a missing file is no base)
    except FileNotFoundError:
        return False
    with handle:
        head = handle.read(_HEAD.size)
        if len(head) != _HEAD.size:
            return False
        magic, stored, count = _HEAD.unpack(head)
        if magic != _MAGIC or stored != token.encode():
            return False
        while size := handle.read(_FRAME.size):
            try:
                keys, packed = marshal.loads(handle.read(_FRAME.unpack(size)[0]))
                index.update(zip([hash(key) >> SLOT_SHIFT for key in keys], packed, strict=True))
            except (EOFError, ValueError, TypeError, struct.error):
                return False
    return bool(len(index) == count)
