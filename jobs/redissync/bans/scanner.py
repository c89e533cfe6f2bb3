"""Reading every ban in Redis in bulk, and turning a raw key/value into a journal :class:`Entry`.

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

import json
import re
from collections.abc import Iterator

from redis import Redis
from redis.exceptions import NoPermissionError, ResponseError

from ..clock import now_ms
from ..keys import ban_scope, split_ban_key
from ..scan import prefetched
from .entry import Entry
from .journal import digest

MAX_VALUE_BYTES = 64 * 1024
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


def scripting_refused(error: ResponseError) -> bool:
    """The user may not run scripts (ACL without ``+@scripting``: redis-py raises NoPermissionError, whose
    text has lost the ``NOPERM`` prefix) or the server has no scripting: use the pipelined path."""
    return isinstance(error, NoPermissionError) or "NOPERM" in str(error) or "unknown command" in str(error).lower()


def is_ban_key(key: bytes) -> bool:
    """``bans_ip_*`` or ``bans_service_*_ip_*`` (docs/bunkerweb-data.md §bans); ``bans_*`` alone also matches foreign keys."""
    return key.startswith(b"bans_ip_") or (key.startswith(b"bans_service_") and b"_ip_" in key[13:])


# One batch: (stamp_ms, [key, value, pttl, key, value, pttl, …]). ``stamp_ms`` is when Redis answered, so
# ``stamp_ms + pttl`` is the ban's absolute expiry however long the batch then waits in the prefetch queue.
Batch = tuple


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
        """:meth:`batches` produced by a background thread started *now* (:func:`..scan.prefetched`)."""
        return prefetched(self.batches(), depth, name="redissync-bans-scan")

    def _one_batch(self, cursor: bytes) -> tuple[bytes, list]:
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

    def _pipelined_batch(self, cursor: bytes) -> tuple[bytes, list]:
        cursor, keys = self.client.scan(cursor, match=SCAN_MATCH, count=self.count)
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
        flat: list = []
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

    def _complete_large(self, flat: list) -> list:
        """Fetch the (rare) values that were too large to travel inside the batch reply."""
        for index in range(1, len(flat), 3):
            value = flat[index]
            if value.__class__ is int and value > 0:
                fetched = self.client.get(flat[index - 1])
                self.round_trips += 1
                flat[index] = fetched if fetched is not None else b""
        return flat




def classify(key: bytes, value: bytes, expires_ms: int | None, now_ms: int) -> Entry:
    """Derive the journal columns from a raw ban; odd values are kept byte for byte and labelled."""
    row = classify_row(key, value, expires_ms, now_ms)
    return Entry(row[0], row[1], *row[3:])


def classify_row(key: bytes, value: bytes, expires_ms: int | None, now_ms: int) -> tuple:
    """:func:`classify` as the journal's row tuple (:data:`journal.ROW_COLUMNS`, digest included): the
    pass writes rows straight from it, without an :class:`Entry` per ban."""
    parsed = split_ban_key(key)
    if parsed is not None:
        ip, service = parsed
        scope, malformed = ban_scope(service), None
    else:
        ip = service = scope = None
        malformed = "key"
    reason = date = None
    if len(value) > MAX_VALUE_BYTES:
        malformed = malformed or "too-large"
    else:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            malformed = malformed or "binary"
        else:
            data = _json(text)
            if data.__class__ is dict:
                reason = data.get("reason")
                if reason is not None:
                    reason = str(reason)[:128]
                date = data.get("date")
                if not isinstance(date, (int, float)):
                    date = None
            else:
                # BunkerWeb's own plain value ("bad behavior", badbehavior's first write) is a ban of its own
                # kind, its text the reason (docs/bunkerweb-data.md §bans); other text that is not a JSON object is odd.
                if not _PLAIN_VALUE.fullmatch(text):
                    malformed = malformed or "not-json"
                reason = text[:128]
    return (key, value, digest(value), expires_ms, ip, service, scope, reason, date, malformed, now_ms)


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,127}")
_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"


def _json(text: str) -> object:
    """``json.loads(text)``, or None when ``text`` is not JSON (a JSON bomb's RecursionError included).
    ``json.loads`` strips whitespace with two regex matches around its C scanner; a value without
    surrounding whitespace (every ban BunkerWeb writes) goes to the scanner directly, which halves the
    cost of a first pass's decoding. Anything else takes the full path: the answer is the same."""
    try:
        data, end = _DECODER.scan_once(text, 0)
    except StopIteration:  # nothing JSON at the first character: not JSON, unless it is whitespace
        if text[:1] not in _JSON_SPACE:
            return None
    except (ValueError, RecursionError):
        return None
    else:
        if end == len(text):
            return data
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
