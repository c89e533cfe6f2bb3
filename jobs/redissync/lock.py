"""A short pass lock that the running pass keeps renewing: a killed pass frees it within one TTL.

The bans pass can run longer than a minute over a large journal, so the lock cannot simply be long (a
scheduler killed mid-pass would then block the next passes for the whole TTL). Instead the lock is short
(:data:`LOCK_MS`) and a daemon thread of the pass renews it every third of its TTL, only while it still
holds our token: a compare-and-set (``SET key token XX PX ms`` inside a script, so the least-privilege
ACL needs no ``PEXPIRE``). Release is compare-and-delete. If a renewal finds another token (the lock
expired meanwhile and another scheduler took it), :attr:`PassLock.lost` becomes True and the pass
avoids the decisions only the lock holder may take.
"""

from __future__ import annotations

import threading

from redis import Redis
from redis.exceptions import RedisError

LOCK_MS = 30_000

_RENEW = ("if redis.call('GET', KEYS[1]) == ARGV[1] then "
          "redis.call('SET', KEYS[1], ARGV[1], 'XX', 'PX', ARGV[2]) return 1 end return 0")
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class PassLock:
    """``SET key token NX PX ttl_ms``, renewed every ``ttl_ms / 3`` by a thread until :meth:`release`."""

    def __init__(self, client: Redis, key: str, token: str, ttl_ms: int = LOCK_MS):
        self.client = client
        self.key = key
        self.token = token
        self.ttl_ms = ttl_ms
        self.renewals = 0
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return False
        self._thread = threading.Thread(target=self._keep, name="redissync-lock-renewal", daemon=True)
        self._thread.start()
        return True

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                renewed = self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms)
            except RedisError:
                continue  # Redis unreachable for now: the next try may succeed before the TTL runs out
            if not renewed:
                self.lost = True
                return
            self.renewals += 1

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.client.eval(_RELEASE, 1, self.key, self.token)
