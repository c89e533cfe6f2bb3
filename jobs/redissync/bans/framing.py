"""The bans archive's files byte for byte (bans/archive.py says what they hold and when they are written).

A stream is :data:`_MAGIC`, then frames: a head (the compressed length, the CRC-32 of the compressed bytes) and one
batch of rows zlib-compressed, as marshalled columns (keys, values, expiries, last seen, deleted keys): marshal is
C-fast and exact for bytes, and one column of similar values compresses far better than interleaved rows. The stream
is cut into files of at most :data:`PART_BYTES`, each of which the manifest names with its size and CRC-32.
"""

from __future__ import annotations

import marshal
import struct
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ..errors import ArchiveError
from ..state import StateStore

FORMAT = 1  # the manifest's "format", and the files' magic
PART_BYTES = 8 * 1024 * 1024  # no cached file above 8 MiB (MariaDB's default max_allowed_packet is 16 MiB)
FRAME_ROWS = 20_000  # rows per compressed frame: bounds the memory of a save or a rebuild
# zlib levels. A base holds every row (a first pass writes one): level 3 costs half of level 6's CPU (300k bans: 1.6
# against 3.2 µs per ban) for 16 % more bytes (21.8 against 18.8 B per ban, BunkerWeb-shaped values); a delta is small.
BASE_LEVEL, DELTA_LEVEL = 3, 6
PERMANENT = -1  # a permanent ban's expiry in a frame
# marshal's version for every frame we write, the archive's and the index's base (bans/index.py): version 2 keeps no
# table of objects met twice (3 and 4 look one up for each object referenced elsewhere too, every key and value
# there: 300k rows 0.15 → 0.08 s); every version reads it.
MARSHAL_VERSION = 2
_MAGIC = b"RSJ1"
_FRAME_HEAD = struct.Struct(">II")  # compressed length, CRC-32 of the compressed bytes


@dataclass
class SaveStats:
    """What a save wrote (bans/archive.py ``save``)."""

    kind: str = ""  # "", "delta" or "base"
    bytes_written: int = 0
    largest_file: int = 0


def frames(rows: list[tuple[Any, ...]] | Iterator[tuple[Any, ...]], deleted: Sequence[bytes] = (),
           level: int = DELTA_LEVEL) -> Iterator[bytes]:
    """Rows (:data:`ARCHIVE_COLUMNS`) and deleted keys as frames of at most :data:`FRAME_ROWS` rows."""
    walk = iter(rows)
    while len(batch := list(islice(walk, FRAME_ROWS))) == FRAME_ROWS:  # sliced in C: once per row
        yield frame(list(zip(*batch, strict=True)), [], level)
    if batch or deleted:
        yield frame(list(zip(*batch, strict=True)) or [(), (), (), ()], list(deleted), level)


def frame(columns: Sequence[Sequence[Any]], deleted: list[bytes], level: int) -> bytes:
    """One frame from its rows' columns (:data:`ARCHIVE_COLUMNS`) and deleted keys, marshalled and compressed."""
    keys, values, expires, seen = (list(column) for column in columns)
    expiries = array("q", [PERMANENT if ms is None else ms for ms in expires]).tobytes()
    compressed = zlib.compress(marshal.dumps((keys, values, expiries, array("q", seen).tobytes(), deleted), MARSHAL_VERSION), level)
    return _FRAME_HEAD.pack(len(compressed), zlib.crc32(compressed)) + compressed


def write_stream(state: StateStore, stem: str, encoded: Iterator[bytes], stats: SaveStats) -> list[list[Any]]:
    """Frames as one byte stream cut into files of at most :data:`PART_BYTES`; returns [[name, size, crc], …]."""
    parts: list[list[Any]] = []
    buffer = bytearray(_MAGIC)

    def flush(data: bytes) -> None:
        name = f"{stem}-{len(parts):03d}.bin"
        state.write(name, data)
        parts.append([name, len(data), zlib.crc32(data)])
        stats.bytes_written += len(data)
        stats.largest_file = max(stats.largest_file, len(data))

    for piece in encoded:
        buffer += piece
        while len(buffer) >= PART_BYTES:
            flush(bytes(buffer[:PART_BYTES]))
            del buffer[:PART_BYTES]
    if buffer:
        flush(bytes(buffer))
    return parts


def read_stream(state: StateStore, parts: list[list[Any]]) -> Iterator[tuple[Any, ...]]:
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
