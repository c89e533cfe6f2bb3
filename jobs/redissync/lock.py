"""The pass lock: redis-py's :class:`~redis.lock.Lock`, short, and renewed by the pass that holds it.

A pass can run longer than a minute over a large journal, so the lock cannot simply be long (a scheduler
killed mid-pass would then block the next passes for the whole TTL). Instead the lock is short
(:data:`LOCK_MS`) and a daemon thread renews it every third of its TTL, only while it still holds our
token. redis-py's Lock takes it (``SET key token NX PX ms``) and releases it (compare-and-delete); only its
extend script changes: redis-py's calls ``PTTL`` and ``PEXPIRE``, which the least-privilege ACL does not
grant (harness/acl.py), so ours is a compare-and-``SET key token XX PX ms``. If a renewal finds another
token (the lock expired meanwhile and another scheduler took it), :attr:`PassLock.lost` becomes True and
the pass avoids the decisions only the lock holder may take.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator

from redis import Redis
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from redis.lock import Lock

from .keys import lock_key, own_key_types
from .keyspace import is_cluster

LOCK_MS = 30_000


class PassLock(Lock):
    """``SET key token NX PX ttl_ms``, renewed every ``ttl_ms / 3`` by a thread until :meth:`release`."""

    # KEYS[1] = lock, ARGV = token, ttl ms, replace flag (always replace: the TTL restarts at each renewal)
    LUA_EXTEND_SCRIPT = ("if redis.call('GET', KEYS[1]) == ARGV[1] then "
                         "redis.call('SET', KEYS[1], ARGV[1], 'XX', 'PX', ARGV[2]) return 1 end return 0")
    # redis-py registers the scripts once per class: ours, never the base class's PEXPIRE script
    lua_release = lua_extend = lua_reacquire = None

    def __init__(self, client: Redis, key: str, token: str, ttl_ms: int = LOCK_MS):
        super().__init__(client, key, timeout=ttl_ms / 1000, blocking=False, thread_local=False)
        self.key = key
        self.token = token
        self.ttl_ms = ttl_ms
        self.renewals = 0
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:  # type: ignore[override]  # one way to take it: now, with our token
        if not super().acquire(blocking=False, token=self.token):
            return False
        self._thread = threading.Thread(target=self._keep, name="redissync-lock-renewal", daemon=True)
        self._thread.start()
        return True

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                self.extend(self.ttl_ms / 1000, replace_ttl=True)
            except LockNotOwnedError:
                self.lost = True
                return
            except RedisError:
                continue  # Redis unreachable for now: the next try may succeed before the TTL runs out
            self.renewals += 1

    def release(self) -> None:
        """Stop renewing, then delete the key only if it still holds our token (never another holder's)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with contextlib.suppress(LockError):  # taken over, or never acquired: nothing of ours to delete
            super().release()


# A key of our namespace holds one type; one of another type (written by hand or by a hostile client) would
# fail every pass with WRONGTYPE, or hold a lock forever. It is ours: deleted before the pass uses it.
_RECLAIM = """
local removed = 0
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'none' and kind ~= ARGV[i] then
    redis.call('DEL', key)
    removed = removed + 1
  end
end
return removed
"""


def reclaim_own_keys(client: Redis, expected: dict[str, str]) -> int:
    """Delete our keys that hold another type than ``expected`` (key → Redis type name); how many were. On a Redis
    Cluster our keys sit in different slots: one script per key."""
    if is_cluster(client):
        return sum(int(client.eval(_RECLAIM, 1, key, kind)) for key, kind in expected.items())
    return int(client.eval(_RECLAIM, len(expected), *expected, *expected.values()))


@contextlib.contextmanager
def exclusive_pass(client: Redis, owner: str, ttl_ms: int = LOCK_MS,
                   logger: logging.Logger | None = None) -> Iterator[PassLock | None]:
    """``owner``'s pass alone: its own keys of another type reclaimed (keys.OWN_KEYS), then its lock taken
    with a fresh token and renewed until the block ends. Yields the held lock, or None when another
    scheduler holds it (the block then decides what to do instead)."""
    reclaimed = reclaim_own_keys(client, own_key_types(owner))
    if reclaimed:
        (logger or logging.getLogger("redissync")).warning(
            f"redissync-{owner}: replaced {reclaimed} of its own keys ({', '.join(own_key_types(owner))}) that held the wrong type")
    lock = PassLock(client, lock_key(owner), uuid.uuid4().hex, ttl_ms)
    if not lock.acquire():
        yield None
        return
    try:
        yield lock
    finally:
        lock.release()
