"""Reading every ban in Redis in bulk (the row each becomes is :mod:`.entry`'s).

One round trip per batch, never per key: a read-only Lua script runs ``SCAN``, keeps the ban keys
(:func:`is_ban_key`, checked in Lua so Python never sees foreign keys), runs ``GET`` + ``PTTL`` for each
(not ``MGET``: the documented ACL rule does not grant it, and a denial inside a script fills the ACL log)
and answers ``[cursor, [key, value, pttl, key, value, pttl, …]]``: a flat list that Python walks
without building a tuple per ban.
Values above :data:`MAX_VALUE_BYTES` come back as their length only (a hostile 100 MB value cannot blow
the job's memory); the few such keys are then fetched on their own. A server that refuses scripts
(an ACL without ``+@scripting``) gets the same data from ``SCAN`` + a pipelined ``GET``/``PTTL`` per batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from redis import Redis
from redis.exceptions import ResponseError

from ..clock import now_ms
from ..connection import scripting_refused
from ..keyspace import prefetched
from .entry import MAX_VALUE_BYTES

SCAN_COUNT = 2000
SCAN_MATCH = "bans_*"  # one pass covers bans_ip_* and bans_service_*_ip_*; filtered by is_ban_key
WRONG_TYPE = -1  # the value slot of a key that is not a string

_SCAN_SCRIPT = """
local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local limit = tonumber(ARGV[4])
local out, n = {}, 0
for _, key in ipairs(reply[2]) do
  if string.sub(key, 1, 8) == 'bans_ip_' or (string.sub(key, 1, 13) == 'bans_service_' and string.find(key, '_ip_', 14, true)) then
    local value = redis.pcall('GET', key)
    if type(value) == 'table' then
      value = -1
    elseif value and #value > limit then
      value = #value
    end
    if value then
      out[n + 1], out[n + 2], out[n + 3] = key, value, redis.call('PTTL', key)
      n = n + 3
    end
  end
end
return {reply[1], out}
"""


def is_ban_key(key: bytes) -> bool:
    """``bans_ip_*`` or ``bans_service_*_ip_*`` (docs/bunkerweb-data.md §bans); ``bans_*`` alone also matches foreign keys."""
    return key.startswith(b"bans_ip_") or (key.startswith(b"bans_service_") and b"_ip_" in key[13:])


# One batch: (stamp_ms, [key, value, pttl, key, value, pttl, …]). ``stamp_ms`` is when Redis answered, so
# ``stamp_ms + pttl`` is the ban's absolute expiry however long the batch then waits in the prefetch queue.
Batch = tuple[Any, ...]


class BanScanner:
    """Iterates over every ban in Redis, one batch (≈ ``count`` keys examined) at a time.

    With ``prefetch`` a thread fetches the next batch while the caller digests the current one: the
    server's work and ours overlap instead of taking turns (the bounded queue keeps memory flat)."""

    def __init__(self, client: Redis, count: int = SCAN_COUNT, use_script: bool = True):
        self.client = client
        self.count = count
        self.round_trips = 0
        self._script = client.register_script(_SCAN_SCRIPT) if use_script else None

    def batches(self) -> Iterator[Batch]:
        cursor = b"0"
        while True:
            cursor, flat = self._one_batch(cursor)
            stamp = now_ms()
            if flat:
                yield stamp, self._complete_large(flat)
            if cursor in (b"0", 0, "0"):
                return

    def prefetched(self, depth: int = 8) -> Iterator[Batch]:
        """:meth:`batches` produced by a background thread started *now* (:func:`..keyspace.prefetched`)."""
        return prefetched(self.batches(), depth, name="redissync-bans-scan")

    def _one_batch(self, cursor: bytes) -> tuple[bytes, list[Any]]:
        if self._script is not None:
            try:
                reply = self._script(args=[cursor, SCAN_MATCH, self.count, MAX_VALUE_BYTES])
                self.round_trips += 1
            except ResponseError as error:
                if not scripting_refused(error):
                    raise
                self._script = None  # no scripting for this user: fall back to a pipeline
            else:
                return reply[0], reply[1]
        return self._pipelined_batch(cursor)

    def _pipelined_batch(self, cursor: bytes) -> tuple[bytes, list[Any]]:
        reply = self.client.scan(cursor, match=SCAN_MATCH, count=self.count)  # type: ignore[arg-type]  # Redis's own cursor bytes
        cursor, keys = cast("tuple[bytes, list[bytes]]", reply)
        self.round_trips += 1
        keys = [key for key in keys if is_ban_key(key)]
        if not keys:
            return cursor, []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.strlen(key)
            pipe.pttl(key)
        replies = pipe.execute(raise_on_error=False)
        self.round_trips += 1
        for reply in replies:  # WRONGTYPE (STRLEN of a hash…) is data; any other error (NOPERM…) fails the pass
            if isinstance(reply, Exception) and not (isinstance(reply, ResponseError) and "WRONGTYPE" in str(reply)):
                raise reply
        small = [key for key, length in zip(keys, replies[0::2], strict=True) if isinstance(length, int) and 0 < length <= MAX_VALUE_BYTES]
        values = dict(zip(small, self.client.mget(small), strict=True)) if small else {}
        self.round_trips += bool(small)
        flat: list[Any] = []
        for key, length, pttl in zip(keys, replies[0::2], replies[1::2], strict=True):
            if pttl == -2:
                continue  # gone between SCAN and PTTL
            if not isinstance(length, int):
                flat += (key, WRONG_TYPE, pttl)
            elif key in values and values[key] is not None:
                flat += (key, values[key], pttl)
            elif length > MAX_VALUE_BYTES:
                flat += (key, length, pttl)
        return cursor, flat

    def _complete_large(self, flat: list[Any]) -> list[Any]:
        """Fetch the (rare) values that were too large to travel inside the batch reply."""
        for index in range(1, len(flat), 3):
            value = flat[index]
            if value.__class__ is int and value > 0:
                fetched = self.client.get(flat[index - 1])
                self.round_trips += 1
                flat[index] = fetched if fetched is not None else b""
        return flat
