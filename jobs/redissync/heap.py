"""Keeping the process's resident memory close to what its live objects need, under glibc's malloc.

Why: glibc serves a block above its *mmap threshold* from a mapping of its own, returned to the system when
freed; smaller blocks come from the heap, whose freed middle stays resident. The threshold starts at 128 KiB
but rises to the size of any larger block freed (up to 32 MiB): once the bans archive's 8 MiB files or
BunkerWeb's restore of the job cache have come and gone, the bans index's large blocks (a dict's hash tables,
outgrown while it loads, below bans/index.py's ``ARRAYS_FROM``; from there its two flat arrays, 16 MiB each at
1M bans) land on the heap and stay there as holes once freed (with the dict at 1M bans: ≈ 20 MB more peak RSS,
measured). Pinning the threshold switches that rise off, for the whole process (inside BunkerWeb: the
scheduler's, where jobs run); the cost is a mapping per block above 1 MiB, not measurable in a pass.
A no-op on other C libraries (musl, in BunkerWeb's Alpine images, has no rising threshold).
"""

from __future__ import annotations

import ctypes
import functools

MMAP_THRESHOLD = 1024 * 1024  # blocks above this get their own mapping, unmapped as soon as they are freed
_M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3


@functools.cache
def pin_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold (and its trim threshold at twice it, glibc's own rule); True when done.
    Once per process: the setting is process-wide."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD))
