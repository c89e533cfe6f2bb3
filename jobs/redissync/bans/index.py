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

In memory it is a dict, or from :data:`ARRAYS_FROM` bans on two flat arrays (:class:`SlotArrays`): a dict of ints
costs ≈ 115 B per ban (1M bans: 114 MB, most of a pass's memory), the arrays 32, for lookups ≈ 0.5 µs slower per ban.
Keys, not their hashes, are stored on disk: ``hash()`` of bytes is keyed per process, which is what keeps the table safe
from crafted collisions. A first pass writes the base from the rows it loads (:class:`LoadedBase`); it is rewritten
after a pass that found none valid, or whose changes since outgrow :data:`REWRITE_FRACTION` of it. A crash between
writing the file and committing its token leaves the two apart: the next pass rebuilds from the journal, which is
always the truth.
"""

from __future__ import annotations

import marshal
import os
import struct
import uuid
from array import array
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from .entry import row_getter
from .framing import MARSHAL_VERSION
from .journal import ID_SHIFT, INDEX_NAME, INDEX_SIZE_META, INDEX_TOKEN_META, Journal

FRAME_KEYS = 20_000  # keys per frame: bounds what a load or a write holds beyond the index itself
REWRITE_FRACTION = 0.1  # rewrite the base once the keys changed since outnumber this share of it …
REWRITE_MIN = 5_000  # … and this many
_HEAD = struct.Struct(">4s32sQ")  # magic, token, entries
_MAGIC = b"RSI1"
_FRAME = struct.Struct(">I")
TAKEN = -1  # an entry the pass has seen in Redis (packed entries are never negative)
ARRAYS_FROM = 500_000  # from this many bans, the index's memory matters more than its lookups' speed


def slot(key: bytes) -> int:
    """A ban key's slot in the index: its per-process hash, never 0 (0 marks an empty position of :class:`SlotArrays`)."""
    return hash(key) | 1


class SlotArrays:
    """The journal's index as two flat arrays (open addressing, linear probing): each ban's :func:`slot` (0: an empty
    position) and its packed entry (journal.py's layout, always > 0), :data:`TAKEN` once the pass has seen the ban in
    Redis or the journal dropped it. 16 B per position at a load of at most 1/2: ≈ 32 MB at 1M bans, against
    ≈ 114 MB for a dict of ints (issue 24: peak RSS ≤ 150 MB at 1M bans). Its lookups cost ≈ 2× a dict's, in Python
    (a steady pass's client CPU at 300k bans: 2.8 µs per ban against 1.7, same run). The part of a dict's protocol a
    pass uses: ``index[slot] = packed``, ``pop``, ``values``, ``items``, ``clear``."""

    __slots__ = ("mask", "packed", "slots", "used")

    def __init__(self, expected: int) -> None:
        size = 1024
        while size < 2 * expected:
            size *= 2
        self._allocate(size)

    def _allocate(self, size: int) -> None:
        self.mask, self.used = size - 1, 0
        self.slots = array("q", bytes(8 * size))
        self.packed = array("q", bytes(8 * size))

    def _find(self, slot: int) -> int:
        """Where ``slot`` is, or the empty position it would take."""
        slots, mask = self.slots, self.mask
        at = slot & mask
        while (found := slots[at]) and found != slot:
            at = (at + 1) & mask
        return at

    def __setitem__(self, slot: int, packed: int) -> None:
        at = self._find(slot)
        if not self.slots[at]:
            if 2 * (self.used + 1) > self.mask + 1:  # more entries than announced: twice the room, load ≤ 1/2
                slots, entries = self.slots, self.packed
                self._allocate(2 * len(slots))
                for old, entry in zip(slots, entries, strict=True):
                    if old:
                        self[old] = entry
                at = self._find(slot)
            self.used += 1
            self.slots[at] = slot
        self.packed[at] = packed

    def pop(self, slot: int, default: None = None) -> int | None:
        """The entry of ``slot`` if not yet taken, then marked taken. Once per ban a pass sees: :meth:`_find` inline."""
        slots, mask = self.slots, self.mask
        at = slot & mask
        while (found := slots[at]) and found != slot:
            at = (at + 1) & mask
        packed = self.packed[at]
        if packed <= 0:  # an empty position, or taken
            return default
        self.packed[at] = TAKEN
        return packed

    def values(self) -> Iterator[int]:
        """The entries not taken, the journaled bans the pass did not see in Redis, in the journal's order (row ids
        ascending): read in hash order, a restore's rows are scattered over the journal's pages (2× its client CPU)."""
        return iter(sorted(filter(_POSITIVE, self.packed)))

    def items(self) -> Iterator[tuple[int, int]]:
        return ((slot, packed) for slot, packed in zip(self.slots, self.packed, strict=True) if packed > 0)

    def clear(self) -> None:
        """Free the arrays (a restore's memory then comes on top of 8 B per missing ban, not of the index)."""
        self._allocate(1024)


_POSITIVE = (0).__lt__
Index = dict[int, int] | SlotArrays  # slot → packed entry; what is left after a pass's pops is what Redis no longer has


def _new(expected: int) -> Index:
    return SlotArrays(expected) if expected >= ARRAYS_FROM else {}


def load(journal: Journal) -> tuple[Index, bool]:
    """The index of every journaled ban, and whether a valid base gave it (False: rebuilt from the journal;
    the pass then writes a base). From here on the journal records the keys it writes for the next load."""
    token = journal.get_meta(INDEX_TOKEN_META)
    journal.tracks_index = token is not None
    if token is not None:
        index = _read_base(journal.path.with_name(INDEX_NAME), token, journal.index_change_count())
        if index is not None:
            for key, packed in journal.index_changes():
                if packed is None:
                    index.pop(slot(key), None)
                else:
                    index[slot(key)] = packed
            return index, True
    index = _new(journal.count())
    for key, packed in journal.index_rows():
        index[slot(key)] = packed
    return index, False


def save_if_due(journal: Journal, loaded_from_base: bool) -> bool:
    """After a committed pass: install the base a bulk load wrote (:class:`LoadedBase`), or write a new base when there
    is no valid one or the changes outgrew it."""
    loaded = next((copy for copy in journal.copies if isinstance(copy, LoadedBase)), None)
    if loaded is not None and loaded.install(journal):
        return True
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
        with _BaseFile(temporary, token) as base:
            for keys, packed in _frames(journal.index_rows()):
                base.write(keys, packed)
        _install(journal, temporary, token, base.count, changes_since=False)
    finally:
        temporary.unlink(missing_ok=True)


class LoadedBase:
    """The base written as a first pass's bulk load writes its rows (a ``Journal.bulk_load`` copy), installed by
    :func:`save_if_due` after the pass: the loaded table is new, so its rows get the ids 1, 2, … in the order written
    and each entry is known without reading the journal back (≈ 1 µs per ban at 300k). The keys the pass writes after
    the load are recorded as changes to it. Void when a key was loaded twice (the journal kept one row): the pass then
    writes a base from the journal. One temporary file, so a pass that dies leaves at most that one behind."""

    def __init__(self, journal: Journal) -> None:
        self.temporary = journal.path.with_name(f".{INDEX_NAME}.loading")
        self.token = uuid.uuid4().hex
        self.whole = True
        self._base: _BaseFile | None = None
        self._keys: list[bytes] = []
        self._packed: list[int] = []

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        first = (self._base.count if self._base else 0) + len(self._keys) + 1
        self._keys += map(_KEY, rows)
        # journal.py's layout, as _PACKED_SQL computes it (an expiry is never negative: no truncation to tell apart)
        self._packed += [row_id << ID_SHIFT | (0 if expires is None else expires // 1000 + 1)
                         for row_id, expires in enumerate(map(_EXPIRES, rows), first)]
        if len(self._keys) >= FRAME_KEYS:
            self._flush()

    def close(self, whole: bool) -> None:
        self.whole = whole
        self._flush()
        if self._base is not None:
            self._base.close()

    def _flush(self) -> None:
        if self._base is None:
            self._base = _BaseFile(self.temporary, self.token)
        self._base.write(self._keys, self._packed)
        self._keys, self._packed = [], []

    def install(self, journal: Journal) -> bool:
        """The base made the journal's, if the load kept every row it wrote."""
        if not self.whole or self._base is None:
            self.temporary.unlink(missing_ok=True)
            return False
        _install(journal, self.temporary, self.token, self._base.count, changes_since=True)
        return True


_KEY, _EXPIRES = row_getter("key"), row_getter("expires_ms")


def _install(journal: Journal, written: Path, token: str, count: int, changes_since: bool) -> None:
    """A base file made the journal's (its token recorded, one commit); ``changes_since``: the keys the journal recorded
    since the base's rows were read are changes to it, kept (else forgotten)."""
    os.replace(written, journal.path.with_name(INDEX_NAME))
    journal.begin()
    if not changes_since:
        journal.reset_index_changes()
    journal.put_meta(INDEX_TOKEN_META, token)
    journal.put_meta(INDEX_SIZE_META, str(count))
    journal.commit()
    journal.tracks_index = True


class _BaseFile:
    """The base's file: a header with the token and the count, then marshal frames of keys and their entries."""

    def __init__(self, path: Path, token: str) -> None:
        self.token, self.count = token.encode(), 0
        self.handle = open(path, "wb")  # noqa: SIM115  (closed by close(), or as a context manager)
        self.handle.write(_HEAD.pack(_MAGIC, self.token, 0))

    def write(self, keys: list[bytes], packed: list[int]) -> None:
        if keys:
            frame = marshal.dumps((keys, packed), MARSHAL_VERSION)
            self.handle.write(_FRAME.pack(len(frame)) + frame)
            self.count += len(keys)

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.seek(0)
            self.handle.write(_HEAD.pack(_MAGIC, self.token, self.count))
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def __enter__(self) -> _BaseFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _frames(rows: Iterable[tuple[bytes, int]]) -> Iterator[tuple[list[bytes], list[int]]]:
    """Frames of :data:`FRAME_KEYS` keys and their entries (sliced and transposed in C: once per ban)."""
    walk = iter(rows)
    while chunk := list(islice(walk, FRAME_KEYS)):
        keys, packed = zip(*chunk, strict=True)
        yield list(keys), list(packed)


def _read_base(path: Path, token: str, room: int) -> Index | None:
    """The base as an index with ``room`` more entries, when it carries ``token`` and is whole."""
    try:
        handle = open(path, "rb")  # noqa: SIM115  (a context manager below; a missing file is no base)
    except FileNotFoundError:
        return None
    with handle:
        head = handle.read(_HEAD.size)
        if len(head) != _HEAD.size:
            return None
        magic, stored, count = _HEAD.unpack(head)
        if magic != _MAGIC or stored != token.encode():
            return None
        index, read = _new(count + room), 0
        while size := handle.read(_FRAME.size):
            try:
                keys, packed = marshal.loads(handle.read(_FRAME.unpack(size)[0]))
            except (EOFError, ValueError, TypeError, struct.error):
                return None
            read += len(keys)
            if read > count or len(packed) != len(keys):
                return None
            if isinstance(index, dict):
                index.update(zip([hash(key) | 1 for key in keys], packed, strict=True))  # slot(key), inline: once per ban
            elif not _fill(index, keys, packed):
                return None
    return index if read == count and (not isinstance(index, dict) or len(index) == count) else None


def _fill(index: SlotArrays, keys: list[bytes], packed: list[int]) -> bool:
    """:meth:`SlotArrays.__setitem__` inline, once per ban; False on a key twice (not a base the journal wrote)."""
    slots, entries, mask = index.slots, index.packed, index.mask
    for key, entry in zip(keys, packed, strict=True):
        slot = hash(key) | 1
        at = slot & mask
        while found := slots[at]:
            if found == slot:
                return False
            at = (at + 1) & mask
        slots[at], entries[at] = slot, entry
    index.used += len(keys)
    return True
