"""Redis's bans against the journal: what is new, what changed, and what Redis no longer has.

Each pass reads every ban's key and expiry only (:meth:`.scanner.BanScanner.expiries`) and looks it up in the
journal's index (a packed int per journaled ban, loaded from disk: bans/index.py). A ban whose expiry is
where the journal has it is unchanged: every ban BunkerWeb writes (``SET … EX``) gets a fresh expiry, so a new
or re-made ban shows as a new key or a moved expiry, and only those values are read
(:meth:`~.scanner.BanScanner.values`). A value rewritten in place with the same expiry (by hand, or by a tool
using ``KEEPTTL``) would go unseen that way, so each pass also compares the values of one slice of the bans:
those whose key's slice (:func:`.scan_scripts.slice_of`, a fixed function of the key) is the slice number, which the
journal's meta keeps and each pass advances. The scan's own calls read them, beside the expiries (no second
lookup, no second round trip). Every ban is so verified at least once every :data:`VERIFY_SLICES` passes, for
about 1/:data:`VERIFY_SLICES` of the cost of reading every value.
A first pass (an empty journal) reads values with the scan, in one round trip per batch.
"""

from __future__ import annotations

from typing import Any, Protocol

from redis import Redis

from . import archive
from . import index as journal_index
from .entry import classify_row, digest
from .index import Index
from .journal import EXPIRY_MASK, ID_SHIFT, VERIFY_SLICE_META, Journal
from .scan_scripts import VERIFY_SLICES
from .scanner import GONE, BanScanner

EXPIRY_TOLERANCE_S = 2  # PTTL jitter that is not a change worth a journal write
FETCH_BATCH = 2_000  # keys whose values are read together (a few script calls of VALUES_COUNT)
PREFETCH_DEPTH = 16  # batches the scan thread may run ahead (≈ 100 kB each without values)


class Counts(Protocol):
    """The figures a pass reports (bans/cycle.py's PassResult), updated batch by batch so that a pass that
    fails half-way still reports what it had seen."""

    seen: int
    new: int
    changed: int
    wrong_type: int


def absorb(client: Redis, journal: Journal, result: Counts) -> tuple[Index, bool]:
    """Journal what is new or changed in Redis. Returns the journal's index minus every ban Redis has (what
    is left is what Redis no longer has), and whether it was loaded from a valid base (bans/index.py)."""
    scanner = BanScanner(client)
    if journal.is_empty():
        _absorb_values(scanner, journal, result)
        return {}, False
    verified = int(journal.get_meta(VERIFY_SLICE_META) or 0) % VERIFY_SLICES
    journal.put_meta(VERIFY_SLICE_META, str((verified + 1) % VERIFY_SLICES))
    batches = scanner.prefetched(PREFETCH_DEPTH, with_values=False, verified=verified)  # they arrive while the index loads
    index, based = journal_index.load(journal)
    pop = index.pop
    wanted: list[bytes] = []  # keys whose value must be read
    known: dict[bytes, int] = {}  # … of which journaled: their packed index entry
    read: list[Any] = []  # [key, value, pttl, stamp, …] of the verified slice: the scan read their values
    read_known: dict[bytes, int] = {}
    for stamp, flat, valued in batches:
        walk = iter(flat)
        for key, pttl in zip(walk, walk, strict=True):
            packed = pop(hash(key) | 1, None)  # index.slot(key), inline: once per ban
            if packed is None:
                wanted.append(key)
                continue
            seconds = packed & EXPIRY_MASK  # the expiry field: expiry in s + 1, 0 = permanent
            if pttl < 0:  # _same_expiry, inline: once per ban
                if not seconds:
                    continue
            elif seconds > 0 and -EXPIRY_TOLERANCE_S <= seconds - 1 - (stamp + pttl) // 1000 <= EXPIRY_TOLERANCE_S:
                continue  # unchanged
            wanted.append(key)
            known[key] = packed
        walk = iter(valued)
        for key, value, pttl in zip(walk, walk, walk, strict=True):
            packed = pop(hash(key) | 1, None)
            if value.__class__ is int:  # too large to travel in a batch, or not a string: read on its own
                wanted.append(key)
                if packed is not None:
                    known[key] = packed
                continue
            read += (key, value, pttl, stamp)
            if packed is not None:
                read_known[key] = packed
        result.seen += len(flat) // 2 + len(valued) // 3
        if len(wanted) >= FETCH_BATCH:
            _fetch(scanner, journal, result, wanted, known)
            wanted, known = [], {}
        if len(read) >= 4 * FETCH_BATCH:
            _journal_read(journal, result, read, read_known)
            read, read_known = [], {}
    _fetch(scanner, journal, result, wanted, known)
    _journal_read(journal, result, read, read_known)
    return index, based


def _fetch(scanner: BanScanner, journal: Journal, result: Counts, keys: list[bytes], known: dict[bytes, int]) -> None:
    """Read the values of ``keys`` and journal those new or changed."""
    if not keys:
        return
    stamp, flat = scanner.values(keys)
    walk = iter(flat)
    _journal_read(journal, result, [item for key, value, pttl in zip(keys, walk, walk, strict=True)
                                     for item in (key, value, pttl, stamp)], known)


def _journal_read(journal: Journal, result: Counts, read: list[Any], known: dict[bytes, int]) -> None:
    """Journal what is new or changed among ``[key, value, pttl, stamp, …]`` (a verified ban may prove unchanged);
    ``known``: the journaled ones' packed index entries."""
    if not read:
        return
    digests = journal.digests([packed >> ID_SHIFT for packed in known.values()]) if known else {}
    rows: list[tuple[Any, ...]] = []
    walk = iter(read)
    for key, value, pttl, stamp in zip(walk, walk, walk, walk, strict=True):
        if value.__class__ is int:
            if value != GONE:  # WRONG_TYPE: a hash/list/set under a ban name
                result.wrong_type += 1
            continue  # a ban deleted since the scan: the next pass judges it
        packed = known.get(key)
        if packed is None:
            result.new += 1
        elif digests.get(packed >> ID_SHIFT) == digest(value) and _same_expiry(packed & EXPIRY_MASK, pttl, stamp):
            continue
        else:
            result.changed += 1
        rows.append(classify_row(key, value, None if pttl < 0 else stamp + pttl, stamp))
    journal.upsert_rows(rows)


def _absorb_values(scanner: BanScanner, journal: Journal, result: Counts) -> None:
    """The first pass: values travel with the scan, every ban is new, and the journal loads them in bulk
    (bans/journal.py). The index's and the archive's bases are written from the rows as they come (reading 300k rows
    back cost ≈ 2 µs per ban)."""
    with journal.bulk_load(journal_index.LoadedBase(journal), archive.LoadedBase()):
        for stamp, flat in scanner.prefetched(PREFETCH_DEPTH, with_values=True):
            rows: list[tuple[Any, ...]] = []
            walk = iter(flat)
            for key, value, pttl in zip(walk, walk, walk, strict=True):
                if value.__class__ is int:  # WRONG_TYPE
                    result.wrong_type += 1
                    continue
                rows.append(classify_row(key, value, None if pttl < 0 else stamp + pttl, stamp))
            result.new += journal.upsert_rows(rows)
            result.seen += len(flat) // 3


def _same_expiry(seconds: int, pttl: int, stamp: int) -> bool:
    """The index's expiry field (expiry in s + 1, 0 = permanent) against a PTTL read at ``stamp``."""
    if pttl < 0:
        return not seconds
    return bool(seconds) and -EXPIRY_TOLERANCE_S <= seconds - 1 - (stamp + pttl) // 1000 <= EXPIRY_TOLERANCE_S

