"""A bounded load generator that writes bans the way BunkerWeb instances do, and keeps its own record.

Jepsen's method: compare what Redis holds after the faults with what the clients were *told* (the writes Redis
acknowledged). The generator plays the BunkerWeb instances of a cluster (docs/bunkerweb-data.md §bans):

* a ban is the bad-behaviour counter (``INCR`` + ``EXPIRE``) then ``SET bans_[service_<s>_]ip_<ip> <json> EX <ttl>``;
  some bans are permanent (no expiry, ``permanent: true``), some service-scoped, some with a service name that
  has ``_ip_`` inside it, some short-lived so they expire during a run;
* an unban ``DEL``s the ban and the IP's ``plugin_bad_behavior_*`` counter in one ``MULTI`` (BunkerWeb #3818's
  workaround), so both reach a replica together.

It writes through its own redis-py client built by :func:`redissync.connection.connect` from the topology's
settings environment, so it finds the master through the sentinels and follows failovers like the jobs do.
A write that fails with a failover error (connection lost, timeout, read-only replica, LOADING, MASTERDOWN) is
retried until it is acknowledged, within a bound in attempts and seconds. Each write also asks ``CLIENT INFO``
on the same connection, so the record says *which* node acknowledged it (the promotion → first write figure).

Everything is bounded: a ban count, a run time, a write rate, and retries per write.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from redis.client import Pipeline
from redis.exceptions import ConnectionError, ReadOnlyError, RedisError, ResponseError, TimeoutError

from redissync.connection import connect
from redissync.keys import BanKey
from redissync.settings import load_settings

SERVICES = ("app.example.com", "shop_ip_store.example.com", "api_ip_v2.example.net")  # `_ip_` inside on purpose
COUNTER_TTL_S = 60  # BunkerWeb's BAD_BEHAVIOR_COUNT_TIME default
LONG_TTL_S = 3600
SHORT_TTL_S = (4, 12)  # some bans expire during a run: they must not come back
RETRY_SECONDS = 30.0  # a write is retried at most this long (a failover takes a few seconds)
RETRY_ATTEMPTS = 400
RETRY_PAUSE_S = 0.05  # backoff between attempts of one write (not a synchronisation)
DUE_MARGIN_MS = 1_500  # a ban this close to expiry is "due": neither alive nor dead is asserted
TTL_SLACK_MS = 250  # the journal stamps expiry when it reads a batch: restored TTLs may be a few ms long
_FAILOVER_MARKERS = ("MASTERDOWN", "NOREPLICAS", "LOADING", "TRYAGAIN", "READONLY")


def is_failover_error(error: BaseException) -> bool:
    """Errors a client sees while a master dies or changes: worth a retry, not a bug."""
    if isinstance(error, (ConnectionError, TimeoutError, ReadOnlyError)):
        return True
    return isinstance(error, ResponseError) and str(error).startswith(_FAILOVER_MARKERS)


@dataclass(frozen=True)
class Ban:
    """A ban Redis acknowledged: what was written, when (wall clock, same host as Redis), and by which node."""

    key: str
    value: str
    ip: str
    service: str | None
    ttl: int | None  # seconds; None = permanent
    sent_at: float
    acked_at: float
    node_port: int

    @property
    def expires_at(self) -> float | None:
        """Latest possible expiry: Redis set the TTL before it acknowledged."""
        return None if self.ttl is None else self.acked_at + self.ttl

    @property
    def counter_key(self) -> str:
        return BanKey(self.ip, self.service).bad_behavior_keys()[0]


@dataclass(frozen=True)
class Ack:
    monotonic: float
    node_port: int
    kind: str  # "ban" or "unban"


@dataclass
class Verification:
    """The comparison of Redis with the record; every list holds keys."""

    checked: int = 0
    due: int = 0
    unbans_checked: int = 0
    lost: list[str] = field(default_factory=list)
    wrong_value: list[str] = field(default_factory=list)
    ttl_too_long: list[str] = field(default_factory=list)
    permanent_with_ttl: list[str] = field(default_factory=list)
    expired_present: list[str] = field(default_factory=list)
    resurrected: list[str] = field(default_factory=list)
    counters_back: list[str] = field(default_factory=list)

    @property
    def problems(self) -> dict[str, list[str]]:
        names = ("lost", "wrong_value", "ttl_too_long", "permanent_with_ttl", "expired_present", "resurrected", "counters_back")
        return {name: getattr(self, name)[:10] for name in names if getattr(self, name)}


class LoadGenerator:
    """Bans (in a background thread, paced) and unbans (on request, from the caller's thread)."""

    def __init__(self, env: Mapping[str, str], *, max_bans: int = 5_000, max_seconds: float = 300.0, rate: float = 150.0,
                 seed: int = 8, first_ip: int = 0) -> None:
        self.client = connect(load_settings(env))
        self.max_bans, self.max_seconds, self.rate = max_bans, max_seconds, rate
        self._rng = random.Random(seed)
        self._next_ip = first_ip
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.alive: dict[str, Ban] = {}
        self.unbanned: dict[str, tuple[Ban, float]] = {}  # key → (the ban, when the unban was acknowledged)
        self.acks: list[Ack] = []
        self.bans_written = 0
        self.unbans_written = 0
        self.failover_errors = 0
        self.gave_up = 0
        self.error: BaseException | None = None

    # -- bans ---------------------------------------------------------------------------------------
    def _new_ip(self) -> str:
        number, self._next_ip = self._next_ip, self._next_ip + 1
        if number % 7 == 6:
            return f"2001:db8:{number >> 16:x}::{number & 0xFFFF:x}"
        return f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"

    def _pick_ban(self) -> tuple[str, str | None, int | None]:
        ip = self._new_ip()
        draw = self._rng.random()
        service = self._rng.choice(SERVICES) if draw < 0.35 else None
        kind = self._rng.random()
        ttl = None if kind < 0.1 else self._rng.randint(*SHORT_TTL_S) if kind < 0.2 else LONG_TTL_S
        return ip, service, ttl

    def ban_one(self) -> Ban | None:
        """One ban as an instance writes it; returns it once acknowledged (None if retries ran out)."""
        ip, service, ttl = self._pick_ban()
        key = BanKey(ip, service).key
        value = json.dumps({"reason": "bad behavior", "service": service or "unknown", "date": int(time.time()),
                            "country": "local", "ban_scope": "service" if service else "global",
                            "reason_data": {"loadgen": True}, "permanent": ttl is None})
        counter = BanKey(ip, service).bad_behavior_keys()[0]

        def queue(pipe: Pipeline) -> None:
            pipe.incr(counter)
            pipe.expire(counter, COUNTER_TTL_S)
            pipe.set(key, value, ex=ttl)

        outcome = self._write(queue, transaction=False)
        if outcome is None:
            return None
        replies, sent_at, acked_at, port = outcome
        if replies[2] is not True:
            raise AssertionError(f"SET {key} was not acknowledged: {replies[2]!r}")
        ban = Ban(key, value, ip, service, ttl, sent_at, acked_at, port)
        with self._lock:
            self.alive[key] = ban
            self.bans_written += 1
            self.acks.append(Ack(time.monotonic(), port, "ban"))
        return ban

    # -- unbans -------------------------------------------------------------------------------------
    def unban(self, count: int) -> list[Ban]:
        """Unban ``count`` long-lived bans (oldest first), each ``DEL`` ban + counter in one ``MULTI``."""
        with self._lock:
            candidates = [ban for ban in self.alive.values() if ban.ttl is None or ban.ttl >= LONG_TTL_S][:count]
        done = []
        for ban in candidates:

            def queue(pipe: Pipeline, ban: Ban = ban) -> None:
                pipe.delete(ban.key)
                pipe.delete(ban.counter_key)

            outcome = self._write(queue, transaction=True)
            if outcome is None:
                continue
            _, _, acked_at, port = outcome
            with self._lock:
                self.alive.pop(ban.key, None)
                self.unbanned[ban.key] = (ban, acked_at)
                self.unbans_written += 1
                self.acks.append(Ack(time.monotonic(), port, "unban"))
            done.append(ban)
        return done

    # -- the write path -----------------------------------------------------------------------------
    def _write(self, queue: Callable[[Pipeline], None], transaction: bool) -> tuple[list, float, float, int] | None:
        """Run the queued commands until acknowledged: (replies, sent_at, acked_at, node port) or None."""
        deadline = time.monotonic() + RETRY_SECONDS
        for _attempt in range(RETRY_ATTEMPTS):
            sent_at = time.time()
            try:
                self._follow_sentinels()
                with self.client.pipeline(transaction=transaction) as pipe:
                    queue(pipe)
                    pipe.client_info()
                    replies = pipe.execute()
            except RedisError as error:
                if not is_failover_error(error):
                    raise
                self.failover_errors += 1
                if time.monotonic() >= deadline:
                    break
                time.sleep(RETRY_PAUSE_S)  # backoff between attempts of one write, not a synchronisation
                continue
            acked_at = time.time()
            port = int(str(replies[-1].get("laddr", ":0")).rsplit(":", 1)[-1])
            return replies[:-1], sent_at, acked_at, port
        self.gave_up += 1
        return None

    def _follow_sentinels(self) -> None:
        """Ask the sentinels for the master before each write, as BunkerWeb's Lua connector does on every
        connect: when it changed, redis-py drops the idle connections to the old one. Without this a pooled
        connection keeps writing to a deposed master until the sentinels demote it (seconds later)."""
        pool = self.client.connection_pool
        if hasattr(pool, "get_master_address"):
            pool.get_master_address()

    # -- the background thread -----------------------------------------------------------------------
    def start(self) -> LoadGenerator:
        self._thread = threading.Thread(target=self._run, name="ban-loadgen", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        interval = 1.0 / self.rate
        next_at = started
        try:
            while not self._stop.is_set() and self.bans_written < self.max_bans and time.monotonic() - started < self.max_seconds:
                self.ban_one()
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)  # the write rate, not a synchronisation
                else:
                    next_at = time.monotonic()
        except BaseException as error:  # surfaced by stop(): a generator that died silently would fake a pass
            self.error = error

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = RETRY_SECONDS + 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise AssertionError("the load generator did not stop")
        self.client.close()
        if self.error is not None:
            raise AssertionError(f"the load generator failed: {self.error!r}") from self.error

    # -- measurements -------------------------------------------------------------------------------
    def acked_count(self) -> int:
        with self._lock:
            return len(self.acks)

    def first_ack_on(self, port: int, since: float) -> float | None:
        """Monotonic time of the first write acknowledged by ``port`` at or after ``since`` (None: none yet)."""
        with self._lock:
            return next((ack.monotonic for ack in self.acks if ack.node_port == port and ack.monotonic >= since), None)

    def bans_acked_by(self, port: int, since: float, until: float) -> set[str]:
        """Keys of bans ``port`` acknowledged between two wall-clock times (the split-brain window)."""
        with self._lock:
            return {ban.key for ban in self.alive.values() if ban.node_port == port and since <= ban.acked_at <= until}

    def verify(self, admin, now: float | None = None) -> Verification:
        """Compare ``admin``'s Redis (the current master) with the record: bans alive with their value and a
        TTL no longer than what is left of theirs, permanent ones without TTL, unbans absent."""
        with self._lock:
            alive = list(self.alive.values())
            unbanned = [ban for ban, _ in self.unbanned.values()]
        result = Verification()
        sent = time.time() if now is None else now
        pipe = admin.pipeline(transaction=False)
        for ban in alive:
            pipe.get(ban.key)
            pipe.pttl(ban.key)
        for ban in unbanned:
            pipe.exists(ban.key)
            pipe.exists(ban.counter_key)
        replies = pipe.execute()
        for index, ban in enumerate(alive):
            value, pttl = replies[2 * index], replies[2 * index + 1]
            remaining_ms = None if ban.expires_at is None else (ban.expires_at - sent) * 1000
            if remaining_ms is not None and remaining_ms <= DUE_MARGIN_MS:
                result.due += 1
                if remaining_ms < -DUE_MARGIN_MS and value is not None:
                    result.expired_present.append(ban.key)
                continue
            result.checked += 1
            if value is None:
                result.lost.append(ban.key)
            elif value.decode() != ban.value:
                result.wrong_value.append(ban.key)
            elif remaining_ms is None and pttl != -1:
                result.permanent_with_ttl.append(ban.key)
            elif remaining_ms is not None and not 0 < pttl <= remaining_ms + TTL_SLACK_MS:
                result.ttl_too_long.append(f"{ban.key} pttl={pttl} remaining={remaining_ms:.0f}")
        base = 2 * len(alive)
        for index, ban in enumerate(unbanned):
            result.unbans_checked += 1
            if replies[base + 2 * index]:
                result.resurrected.append(ban.key)
            if replies[base + 2 * index + 1]:
                result.counters_back.append(ban.counter_key)
        return result
