"""glibc's mmap threshold pinned: a large block freed no longer sends the next large blocks to the heap."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from redissync.heap import MMAP_THRESHOLD

JOBS = Path(__file__).resolve().parents[2] / "jobs"

# Frees an 8 MiB block (glibc then raises its threshold to 8 MiB unless pinned), then says whether a 4 MiB
# block came from the brk heap, where a freed block stays resident, or from a mapping of its own.
_CHILD = """
import ctypes, json, sys
sys.path.insert(0, {jobs!r})
from redissync.heap import pin_mmap_threshold
pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else False
freed = bytearray(8 << 20)
del freed
block = bytearray(4 << 20)
address = ctypes.addressof((ctypes.c_char * len(block)).from_buffer(block))
heap = [line.split()[0].split("-") for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
print(json.dumps({{"pinned": pinned, "in_heap": any(int(low, 16) <= address < int(high, 16) for low, high in heap)}}))
"""


def _child(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD.format(jobs=str(JOBS)), mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the mmap threshold is glibc's")
def test_a_pinned_threshold_keeps_large_blocks_off_the_heap() -> None:
    assert MMAP_THRESHOLD < 4 << 20
    assert _child("dynamic") == {"pinned": False, "in_heap": True}, "glibc no longer raises its threshold: heap.py is moot"
    assert _child("pin") == {"pinned": True, "in_heap": False}
