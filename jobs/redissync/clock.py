"""Wall-clock time in the unit BunkerWeb's ban values and Redis's PTTL share: milliseconds since the epoch."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
