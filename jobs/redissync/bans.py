"""One reconciliation pass between Redis's bans and the durable journal (the ``redissync-bans`` job).

1. read every ban in Redis in bulk (:mod:`bans_scan`), journal what is new or changed;
2. for each journaled ban Redis no longer has: expired → dropped; Redis lost data
   (:mod:`bans_identity`) → restored with ``SET … NX PX <remaining>``; deleted on purpose → an unban:
   dropped, and the IP's bad-behaviour counters deleted so it is not re-banned at once (BunkerWeb #3818);
3. record the server identity and write ``bans-summary.json`` for the UI.

Never fights a running cluster: restores are NX (a ban an instance re-created meanwhile wins), two
schedulers never reconcile at once (a short lock key), and a second pass over the same data changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from zlib import crc32

from redis import Redis

from .bans_identity import ServerIdentity, Verdict, ensure_marker, judge
from .bans_scan import BanScanner, classify
from .bans_summary import write_summary
from .journal import JOURNAL_NAME, Entry, Journal
from .keys import BAD_BEHAVIOR_PATTERN, GENERATION_KEY, LOCK_PREFIX, parse_ban_key
from .keyscan import reclaim_own_keys
from .settings import Settings
from .state import StateStore

LOCK_KEY = LOCK_PREFIX + "bans"
LOCK_MS = 120_000
EXPIRY_GRACE_MS = 1_000  # a ban with less left than this is treated as expired, never resurrected
EXPIRY_TOLERANCE_S = 2  # PTTL jitter that is not a change worth a journal write
_EXPIRY_MASK = 0xFFFF_FFFF_FFFF  # journal.pack: low 48 bits = expiry in s + 1 (0 = permanent)
CHUNK = 1_000
IDENTITY_META = "identity"

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass
class PassResult:
    seen: int = 0
    new: int = 0
    changed: int = 0
    restored: int = 0
    kept: int = 0
    expired: int = 0
    unbans: int = 0
    counters_cleared: int = 0
    malformed: int = 0
    wrong_type: int = 0
    verdict: str = ""
    skipped: str = ""
    duration_ms: int = 0
    malformed_kinds: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        if self.skipped:
            return f"skipped: {self.skipped}"
        return (f"{self.seen} bans seen, {self.new} new, {self.restored} restored, {self.expired} expired, "
                f"{self.unbans} unbans propagated ({self.counters_cleared} counters cleared), {self.malformed} malformed"
                + (f", {self.kept} re-created meanwhile" if self.kept else "")
                + f", {self.duration_ms} ms; {self.verdict}")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def one_pass(settings: Settings, client: Redis, state: StateStore, logger: logging.Logger) -> str:
    """The job's work: one pass under the lock; the summary line for the log."""
    result = reconcile(client, state, logger)
    return result.line()


def reconcile(client: Redis, state: StateStore, logger: logging.Logger | None = None) -> PassResult:
    logger = logger or logging.getLogger("redissync")
    started = time.monotonic()
    result = PassResult()
    token = uuid.uuid4().hex
    if reclaim_own_keys(client, {LOCK_KEY: "string", GENERATION_KEY: "string"}):
        logger.warning(f"redissync-bans: replaced {LOCK_KEY} or {GENERATION_KEY}, which held the wrong type")
    if not client.set(LOCK_KEY, token, nx=True, px=LOCK_MS):
        result.skipped = f"another scheduler is reconciling bans ({LOCK_KEY} is held)"
        return result
    try:
        with Journal.in_directory(state.directory) as journal:
            try:
                _run(client, journal, result, logger)
            except BaseException as error:
                journal.rollback()
                result.duration_ms = int((time.monotonic() - started) * 1000)
                _try_summary(state, journal, result, failed=type(error).__name__)
                raise
            result.duration_ms = int((time.monotonic() - started) * 1000)
            if journal.changes:
                journal.checkpoint()
                state.persist(JOURNAL_NAME)
            write_summary(state, journal, result)
    finally:
        client.eval(_RELEASE, 1, LOCK_KEY, token)
    return result


def _try_summary(state: StateStore, journal: Journal, result: PassResult, failed: str) -> None:
    with contextlib.suppress(Exception):  # the original error is what matters
        write_summary(state, journal, result, failed=failed)


def _run(client: Redis, journal: Journal, result: PassResult, logger: logging.Logger) -> None:
    previous = ServerIdentity.from_json(journal.get_meta(IDENTITY_META))
    before = ServerIdentity.read(client)
    journal.begin()
    missing = _absorb(client, journal, result)
    after = ServerIdentity.read(client)
    if not before.same_history(after):
        # A failover or flush happened while we scanned: judge nothing, record nothing; the next pass
        # compares against the identity recorded before it and decides then.
        result.verdict = "Redis changed during the pass; missing bans will be judged next pass"
        journal.commit()
        return
    verdict = judge(previous, before)
    result.verdict = ("data loss: " if verdict.lost and previous is not None else "") + verdict.reason
    if verdict.lost and previous is not None:
        logger.warning(f"redissync-bans: {verdict.reason}; restoring missing bans")
    _settle_missing(client, journal, missing, verdict, result)
    result.malformed_kinds = journal.malformed_counts()
    if result.wrong_type:
        result.malformed_kinds["type"] = result.wrong_type
    result.malformed = sum(result.malformed_kinds.values())
    ensure_marker(client)
    final = ServerIdentity.read(client)
    if final.run_id == before.run_id and final.replid == before.replid:
        journal.set_meta(IDENTITY_META, final.to_json())
    journal.commit()


def _absorb(client: Redis, journal: Journal, result: PassResult) -> dict[int, int]:
    """Scan Redis and journal what is new or changed. Returns the journal index minus every key seen:
    what is left is what Redis no longer has. (The hot loop: ~1 µs per unchanged ban.)"""
    batches = BanScanner(client).prefetched()  # the first batches arrive while the index loads
    index = journal.index()
    for batch in batches:
        stamp = now_ms()
        writes: list[Entry] = []
        for key, value, pttl in batch:
            packed = index.pop(hash(key), None)
            result.seen += 1
            if value.__class__ is int:  # WRONG_TYPE: a hash/list/set under a ban name
                result.wrong_type += 1
                continue
            expires = None if pttl < 0 else stamp + pttl
            if packed is not None:
                seconds = packed & _EXPIRY_MASK
                if ((packed >> 48) & 0xFFFF_FFFF) == crc32(value) and (
                    seconds == 0 if expires is None else (seconds != 0 and abs(seconds - 1 - expires // 1000) <= EXPIRY_TOLERANCE_S)
                ):
                    continue
                result.changed += 1
            else:
                result.new += 1
            writes.append(classify(key, value, expires, stamp))
        journal.upsert(writes)
    return index


def _settle_missing(client: Redis, journal: Journal, missing: dict[int, int], verdict: Verdict, result: PassResult) -> None:
    """Journaled bans Redis no longer has: expired, lost (restore) or unbanned (drop + clear counters)."""
    ids = [packed >> 80 for packed in missing.values()]
    unbanned: list[Entry] = []
    for start in range(0, len(ids), CHUNK):
        stamp = now_ms()
        entries = journal.by_ids(ids[start:start + CHUNK])
        expired = [e for e in entries if e.expires_ms is not None and e.expires_ms - stamp <= EXPIRY_GRACE_MS]
        live = [e for e in entries if e.expires_ms is None or e.expires_ms - stamp > EXPIRY_GRACE_MS]
        result.expired += journal.delete(e.key for e in expired)
        if verdict.lost:
            restored, kept = restore(client, live, stamp)
            result.restored += restored
            result.kept += kept
        else:
            result.unbans += journal.delete(e.key for e in live)
            unbanned += live
    if unbanned:
        result.counters_cleared = clear_counters(client, unbanned)


def restore(client: Redis, entries: Iterable[Entry], stamp: int | None = None) -> tuple[int, int]:
    """``SET key value NX [PX remaining]`` for each live entry, pipelined; returns (restored, already there)."""
    stamp = now_ms() if stamp is None else stamp
    restored = kept = 0
    pipe = client.pipeline(transaction=False)
    queued = 0
    for entry in entries:
        remaining = entry.remaining_ms(stamp)
        if remaining is not None and remaining <= EXPIRY_GRACE_MS:
            continue
        pipe.set(entry.key, entry.value, nx=True, px=remaining)
        queued += 1
        if queued >= CHUNK:
            restored, kept = _tally(pipe.execute(), restored, kept)
            queued = 0
    if queued:
        restored, kept = _tally(pipe.execute(), restored, kept)
    return restored, kept


def _tally(replies: list, restored: int, kept: int) -> tuple[int, int]:
    done = sum(1 for reply in replies if reply)
    return restored + done, kept + len(replies) - done


def clear_counters(client: Redis, unbanned: list[Entry]) -> int:
    """Delete the bad-behaviour counters of unbanned IPs: the scope's own, and for a global unban every
    service's too (a global unban lifts every ban of the IP, contract §6.1)."""
    keys: set[str] = set()
    global_ips: set[str] = set()
    for entry in unbanned:
        parsed = parse_ban_key(entry.key)
        if parsed is None:
            continue
        keys.update(parsed.bad_behavior_keys())
        if parsed.service is None:
            global_ips.add(parsed.ip)
    if global_ips:
        for key in client.scan_iter(match=BAD_BEHAVIOR_PATTERN, count=2000):
            text = key.decode("utf-8", "replace")
            if text.rsplit("_", 1)[-1] in global_ips:
                keys.add(text)
    cleared = 0
    ordered = sorted(keys)
    for start in range(0, len(ordered), CHUNK):
        cleared += client.delete(*ordered[start:start + CHUNK])
    return cleared
