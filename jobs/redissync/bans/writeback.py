"""Journaled bans written back to Redis: ``SET key value NX [PX remaining]``, never over a live key.

Used by the pass after data loss, by ``bans import`` and for bans only an instance held. NX because a ban
an instance re-created meanwhile is newer than ours. One script call per batch of :data:`CHUNK` keys:
the Python side of a pipeline of SETs (packing and parsing one reply per ban) costs more than Redis does.
The calls are streamed (:mod:`..streaming`), so Redis runs one batch while the next is read from the
journal and packed; a user who may not run scripts gets the same SETs streamed one command per ban.

On a Redis Cluster each ban goes to the master serving its slot (:func:`restore_on_cluster`): the batches are
filled per master and each is one script call on it, its keys undeclared (they span many slots of that node,
which only a script without a shebang may touch: docs/bans.md, Redis Cluster). A key whose slot moved since the
slot map was read is refused by the node (``redis.pcall``) and then written through the cluster client, which
follows MOVED/ASK; SET NX makes a second attempt harmless.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, NamedTuple

from redis import Redis
from redis.cluster import RedisCluster
from redis.exceptions import ResponseError

from ..clock import now_ms
from ..connection import scripting_refused
from ..streaming import stream_groups

CHUNK = 250  # bans per script call: ≈ 1.2 ms of Redis (a SET NX PX costs it 4–5 µs); each instance's ban check waits behind it
EXPIRY_GRACE_MS = 1_000  # a ban with less left than this is treated as expired, never resurrected
RESTORE_BYTES = 512 * 1024  # value bytes per call: copying them holds Redis too (a hostile journal cannot build a huge command)

# KEYS = the bans; ARGV[1] = their remaining ms, space-separated (0 = permanent); ARGV[2…] = their values.
# One argument for every TTL rather than one each: packing arguments is most of the job's side of a restore.
# Returns how many were written.
_RESTORE_SCRIPT = """
local restored, i = 0, 0
for ttl in string.gmatch(ARGV[1], '%d+') do
  i = i + 1
  local done
  if ttl ~= '0' then
    done = redis.call('SET', KEYS[i], ARGV[i + 1], 'NX', 'PX', ttl)
  else
    done = redis.call('SET', KEYS[i], ARGV[i + 1], 'NX')
  end
  if done then restored = restored + 1 end
end
return restored
"""


def expired(expires_ms: int | None, now_ms: int) -> bool:
    """The one rule for "too late to write back": less than :data:`EXPIRY_GRACE_MS` left (never permanent)."""
    return expires_ms is not None and expires_ms - now_ms <= EXPIRY_GRACE_MS


class RestoreBatch(NamedTuple):
    keys: list[bytes]
    values: list[bytes]
    remaining: list[int]  # ms left, 0 = permanent

    def script_arguments(self) -> list[Any]:
        """KEYS, then ARGV of :data:`_RESTORE_SCRIPT`."""
        return [*self.keys, " ".join(map(str, self.remaining)), *self.values]

    def set_commands(self) -> list[tuple[Any, ...]]:
        return [("SET", key, value, "NX", "PX", remaining) if remaining else ("SET", key, value, "NX")
                for key, value, remaining in zip(self.keys, self.values, self.remaining, strict=True)]


def restore(client: Redis, entries: Iterable[Sequence[Any]], stamp: int | None = None) -> tuple[int, int]:
    """Write back each live entry (an :class:`.journal.Entry`, or any row that starts ``key, value,
    expires_ms``); returns (restored, already there). The time left is counted from ``stamp``, or from
    the moment each batch is built."""
    if isinstance(client, RedisCluster):
        return restore_on_cluster(client, entries, stamp)
    sizes: list[int] = []
    batches = _batches(entries, stamp, sizes)
    first = next(batches, None)
    if first is None:
        return 0, 0
    try:
        restored = int(client.eval(_RESTORE_SCRIPT, len(first.keys), *first.script_arguments()))
    except ResponseError as error:
        if not scripting_refused(error):
            raise
        commands = (batch.set_commands() for batch in chain([first], batches))
        restored = sum(1 for reply in stream_groups(client, commands) if reply is not None)
    else:
        calls = ([("EVAL", _RESTORE_SCRIPT, len(batch.keys), *batch.script_arguments())] for batch in batches)
        restored += sum(int(reply) for reply in stream_groups(client, calls))
    return restored, sum(sizes) - restored


# A cluster node's share: ARGV[1] = the remaining ms (as above), then the keys (undeclared), then the values. Returns
# how many were written and the positions the node refused (their slot is no longer its own).
_NODE_RESTORE_SCRIPT = """
local ttls = {}
for ttl in string.gmatch(ARGV[1], '%d+') do ttls[#ttls + 1] = ttl end
local n, restored, refused = #ttls, 0, {}
for i = 1, n do
  local done
  if ttls[i] ~= '0' then
    done = redis.pcall('SET', ARGV[i + 1], ARGV[n + i + 1], 'NX', 'PX', ttls[i])
  else
    done = redis.pcall('SET', ARGV[i + 1], ARGV[n + i + 1], 'NX')
  end
  if type(done) == 'table' and done.err then
    if not string.find(done.err, 'non local key', 1, true) then return redis.error_reply(done.err) end
    refused[#refused + 1] = i
  elseif done then
    restored = restored + 1
  end
end
return {restored, refused}
"""


def restore_on_cluster(client: RedisCluster, entries: Iterable[Sequence[Any]], stamp: int | None = None) -> tuple[int, int]:
    """:func:`restore` on a Redis Cluster: batches filled per master (at most one pending per master)."""
    pending: dict[str, list[Sequence[Any]]] = defaultdict(list)
    sizes: list[int] = []
    restored = 0

    def send(name: str) -> int:
        rows, pending[name] = pending[name], []
        written = 0
        for batch in _batches(rows, stamp, sizes):
            node = client.get_redis_connection(client.get_node(node_name=name))
            keys, ttls = batch.keys, " ".join(map(str, batch.remaining))
            try:
                done, refused = node.execute_command("EVAL", _NODE_RESTORE_SCRIPT, 0, ttls, *keys, *batch.values)
            except ResponseError as error:
                if not scripting_refused(error):
                    raise
                done, refused = 0, range(1, len(keys) + 1)
            written += int(done) + sum(bool(client.execute_command(*batch.set_commands()[int(i) - 1])) for i in refused)
        return written

    for entry in entries:
        name = client.get_node_from_key(entry[0]).name
        pending[name].append(entry)
        if len(pending[name]) >= CHUNK:
            restored += send(name)
    for name in list(pending):
        restored += send(name)
    return restored, sum(sizes) - restored


def _batches(entries: Iterable[Sequence[Any]], stamp: int | None, sizes: list[int]) -> Iterator[RestoreBatch]:
    """The live entries in batches bounded in count and bytes; each batch's length goes to ``sizes``."""
    batch = RestoreBatch([], [], [])
    size = 0
    now = now_ms() if stamp is None else stamp
    for entry in entries:
        expires_ms = entry[2]
        if expired(expires_ms, now):  # again here: time passed since the caller looked, and PX must stay > 0
            continue
        value = entry[1]
        batch.keys.append(entry[0])
        batch.values.append(value)
        batch.remaining.append(0 if expires_ms is None else expires_ms - now)
        size += len(value)
        if len(batch.keys) >= CHUNK or size >= RESTORE_BYTES:
            sizes.append(len(batch.keys))
            yield batch
            batch, size = RestoreBatch([], [], []), 0
            now = now_ms() if stamp is None else stamp
    if batch.keys:
        sizes.append(len(batch.keys))
        yield batch
