"""One reconciliation pass between Redis's bans and the durable journal (the ``redissync-bans`` job).

1. read every ban in Redis in bulk (:mod:`.scanner`), journal what is new or changed;
2. for each journaled ban Redis no longer has: expired → dropped; Redis lost data
   (:mod:`.identity`) → restored with ``SET … NX PX <remaining>``; deleted on purpose → an unban:
   dropped, and the IP's bad-behaviour counters deleted so it is not re-banned at once (BunkerWeb #3818);
3. record the server identity and write ``bans-summary.json`` for the UI.

Never fights a running cluster: restores are NX (a ban an instance re-created meanwhile wins), two
schedulers never reconcile at once (a short lock key), and a second pass over the same data changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from redis import Redis

from ..clock import now_ms
from ..heap import pin_mmap_threshold
from ..keys import BAD_BEHAVIOR_PATTERN, BANS_LOCK_KEY, parse_ban_key
from ..lock import LOCK_MS, PassLock, exclusive_pass
from ..settings import Settings
from ..state import StateStore
from .archive import open_journal, save
from .entry import Entry, classify_row, digest
from .identity import ServerIdentity, Verdict, ensure_marker, judge
from .journal import DIGEST_MASK, DIGEST_SHIFT, EXPIRY_MASK, ID_SHIFT, Journal
from .local_only import InstanceSource, InstancesReport, LocalBans, instance_source
from .scanner import BanScanner
from .summary import pass_line, write_summary
from .writeback import expired, restore

EXPIRY_TOLERANCE_S = 2  # PTTL jitter that is not a change worth a journal write
CHUNK = 1_000
IDENTITY_META = "identity"
Row = TypeVar("Row", bound=Sequence[Any])  # an Entry, or a bare (key, value, expires_ms) row
SMALL_JOURNAL = 250_000  # journaled bans below which the index is small enough for a deep prefetch queue
PREFETCH_DEPTH_SMALL, PREFETCH_DEPTH_LARGE = 32, 8  # batches of ~2,000 bans the scan thread may run ahead

@dataclass(frozen=True)
class BanPolicy:
    """The operator's switches over what a pass may write (plugin.json; defaults = the historical behaviour)."""

    restore_lost: bool = True  # REDISSYNC_RESTORE_BANS
    clear_counters_on_unban: bool = True  # REDISSYNC_UNBAN_CLEARS_BAD_BEHAVIOR

    @classmethod
    def from_settings(cls, settings: Settings) -> BanPolicy:
        return cls(settings.restore_bans, settings.unban_clears_bad_behavior)


@dataclass
class PassResult:
    seen: int = 0
    new: int = 0
    changed: int = 0
    restored: int = 0
    kept: int = 0
    expired: int = 0
    unbans: int = 0
    not_restored: int = 0
    counters_cleared: int = 0
    malformed: int = 0
    wrong_type: int = 0
    verdict: str = ""
    skipped: str = ""
    duration_ms: int = 0
    saved_bytes: int = 0  # written to BunkerWeb's job cache for the journal (bans/archive.py)
    malformed_kinds: dict[str, int] = field(default_factory=dict)
    instances: InstancesReport | None = None  # None outside BunkerWeb (no instances to ask)

    def line(self) -> str:
        return pass_line(vars(self), self.instances.line() if self.instances else "")


def one_pass(settings: Settings, client: Redis, state: StateStore, logger: logging.Logger) -> str:
    """The job's work: one pass under the lock; the summary line for the log."""
    result = reconcile(client, state, logger, BanPolicy.from_settings(settings), instances=instance_source(state, settings.api_token))
    return result.line()


def reconcile(client: Redis, state: StateStore, logger: logging.Logger | None = None,
              policy: BanPolicy = BanPolicy(), instances: InstanceSource | None = None) -> PassResult:
    logger = logger or logging.getLogger("redissync")
    started = time.monotonic()
    pin_mmap_threshold()  # the index of a large journal would otherwise leave heap holes (heap.py)
    result = PassResult()
    with exclusive_pass(client, "bans", LOCK_MS, logger) as lock:
        if lock is None:
            result.skipped = f"another scheduler is reconciling bans ({BANS_LOCK_KEY} is held)"
            return result
        local = LocalBans.load(instances, state) if instances is not None else None
        with open_journal(state) as journal:
            try:
                _run(client, journal, result, logger, lock, policy, local)
            except BaseException as error:
                journal.rollback()
                result.duration_ms = int((time.monotonic() - started) * 1000)
                _try_summary(state, journal, result, failed=type(error).__name__)
                raise
            result.duration_ms = int((time.monotonic() - started) * 1000)
            if local is not None:
                local.save(state)  # before the journal: a crash in between re-detects the unbans
            # Inside BunkerWeb the next run starts from the cached copy: a pass that changed rows *or* only
            # its record of Redis (a restore changes no row) must cache it, or the next pass judges from
            # the old record and undoes unbans made meanwhile (issue 16). Redis was written before this
            # point, so a crash here leaves the old record: the next pass restores once more (safe).
            changed = journal.changes > 0  # save() forgets them once stored
            result.saved_bytes = save(state, journal).bytes_written
            write_summary(state, journal, asdict(result), recount=changed)
    return result


def _try_summary(state: StateStore, journal: Journal, result: PassResult, failed: str) -> None:
    with contextlib.suppress(Exception):  # the original error is what matters
        write_summary(state, journal, asdict(result), failed=failed)


def _run(client: Redis, journal: Journal, result: PassResult, logger: logging.Logger, lock: PassLock,
         policy: BanPolicy, local: LocalBans | None = None) -> None:
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
    if lock.lost:
        # Our lock expired and another scheduler may be reconciling: only the lock holder judges.
        result.verdict = f"{BANS_LOCK_KEY} was lost during the pass; missing bans will be judged next pass"
        journal.commit()
        return
    verdict = judge(previous, before)
    result.verdict = ("data loss: " if verdict.lost and previous is not None else "") + verdict.reason
    if verdict.lost and previous is not None:
        action = "restoring missing bans" if policy.restore_lost else "not restoring them (REDISSYNC_RESTORE_BANS=no)"
        logger.warning(f"redissync-bans: {verdict.reason}; {action}")
    unbanned = _settle_missing(client, journal, missing, verdict, result, policy)
    if local is not None:  # inside BunkerWeb: the bans only an instance holds (bans/local_only.py)
        result.instances = local.settle(client, journal, unbanned, policy.restore_lost)
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
    what is left is what Redis no longer has. (The hot loop: well under 1 µs per unchanged ban; each batch
    is a flat ``[key, value, pttl, …]`` list stamped when Redis answered.)"""
    # The scan starts first: its first batches arrive while the index loads. Over a small journal the queue
    # may hold most of the scan (the index is small); over a large one it stays short, so that the queue and
    # the index together stay under the RSS target (measured: 32 batches ahead ≈ 20 MB at 1M bans).
    depth = PREFETCH_DEPTH_SMALL if journal.count() < SMALL_JOURNAL else PREFETCH_DEPTH_LARGE
    batches = BanScanner(client).prefetched(depth)
    index = journal.index()
    pop = index.pop
    new, changed, wrong_type = result.new, result.changed, result.wrong_type
    for stamp, flat in batches:
        rows: list[tuple[Any, ...]] = []
        walk = iter(flat)
        for key, value, pttl in zip(walk, walk, walk, strict=True):
            packed = pop(hash(key), None)
            if value.__class__ is int:  # WRONG_TYPE: a hash/list/set under a ban name
                wrong_type += 1
                continue
            if packed is not None:
                if (packed >> DIGEST_SHIFT) & DIGEST_MASK == digest(value):
                    seconds = packed & EXPIRY_MASK  # the expiry field: expiry in s + 1, 0 = permanent
                    if pttl < 0:
                        if not seconds:
                            continue
                    elif seconds and -EXPIRY_TOLERANCE_S <= seconds - 1 - (stamp + pttl) // 1000 <= EXPIRY_TOLERANCE_S:
                        continue
                changed += 1
            else:
                new += 1
            rows.append(classify_row(key, value, None if pttl < 0 else stamp + pttl, stamp))
        journal.upsert_rows(rows)
        # per batch, not per ban: a pass that fails half-way still reports what it had seen
        result.seen += len(flat) // 3
        result.new, result.changed, result.wrong_type = new, changed, wrong_type
    return index


def _settle_missing(client: Redis, journal: Journal, missing: dict[int, int], verdict: Verdict, result: PassResult,
                    policy: BanPolicy) -> list[Entry]:
    """Journaled bans Redis no longer has: expired, lost (restore, or forget when the operator said so) or
    unbanned (drop + clear counters). Returns the unbanned ones."""
    too_late: list[bytes] = []
    ids = [packed >> ID_SHIFT for packed in missing.values()]
    stamp = now_ms()

    def live(rows: Iterable[Row]) -> Iterator[Row]:  # handed on as read: a restore streams them
        for row in rows:  # an Entry, or a (key, value, expires_ms) row
            if expired(row[2], stamp):
                too_late.append(row[0])
            else:
                yield row

    unbanned: list[Entry] = []
    if verdict.lost and policy.restore_lost:
        result.restored, result.kept = restore(client, live(journal.rows_by_ids(ids)))
    elif verdict.lost:
        result.not_restored = journal.delete([row[0] for row in live(journal.rows_by_ids(ids))])
    else:
        unbanned = list(live(journal.by_ids(ids)))
        result.unbans = journal.delete([entry.key for entry in unbanned])
    result.expired = journal.delete(too_late)
    if unbanned and policy.clear_counters_on_unban:
        result.counters_cleared = clear_counters(client, unbanned)
    return unbanned


def clear_counters(client: Redis, unbanned: list[Entry]) -> int:
    """Delete the bad-behaviour counters of unbanned IPs: the scope's own, and for a global unban every
    service's too (a global unban lifts every ban of the IP, docs/bunkerweb-data.md §bans)."""
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
