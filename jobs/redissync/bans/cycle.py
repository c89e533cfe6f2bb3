"""One reconciliation pass between Redis's bans and the durable journal (the ``redissync-bans`` job).

1. read every ban in Redis in bulk (:mod:`.scanner`), journal what is new or changed;
2. for each journaled ban Redis no longer has: expired → dropped; Redis lost data
   (:mod:`.identity`) → restored with ``SET … NX PX <remaining>``; deleted on purpose → an unban:
   dropped, and the IP's bad-behaviour counters deleted so it is not re-banned at once (BunkerWeb #3818);
3. record the server identity and write ``bans-summary.json`` for the UI.

Never fights a running cluster: restores are NX (a ban an instance re-created meanwhile wins), two
schedulers never reconcile at once (a short lock key), and a second pass over the same data changes nothing.

On a Redis Cluster (REDIS_CLUSTER_NODES) the scan walks every master, loss is judged shard by shard
(:mod:`.shards`: only a shard that lost its data gets its bans back; the others' missing bans are unbans), and a
pass during which a slot moved, or a migration was open, judges nothing. One lock still guards the whole pass:
the pass is one (one journal, one judgement), so a lock per shard would only let two schedulers split a pass that
neither could judge alone. Its key sits in one slot; if that shard fails over and the lock is lost, the renewal
notices (:attr:`..lock.PassLock.lost`) and the pass judges nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain, pairwise
from typing import Any, TypeVar

from redis import Redis

from ..clock import now_ms
from ..heap import pin_mmap_threshold
from ..keys import BANS_LOCK_KEY
from ..keyspace import is_cluster
from ..lock import LOCK_MS, PassLock, exclusive_pass
from ..settings import Settings
from ..state import StateStore
from . import index
from .absorb import absorb
from .archive import open_journal, save
from .counters import clear_counters
from .entry import Entry
from .identity import Verdict
from .journal import ID_SHIFT, Journal
from .local_only import InstanceSource, instance_source
from .mode_switch import switch_mode
from .shards import ClusterVerdict, ensure_markers, judge_state, read_state, record, recorded, unchanged
from .sources import BanSource, SourceReport, open_source
from .summary import DATA_LOSS_VERDICT, pass_line, write_summary
from .writeback import expired, restore

Row = TypeVar("Row", bound=Sequence[Any])  # an Entry, or a bare (key, value, expires_ms) row
SPREAD = 32  # a restore writes 1 in SPREAD lost bans first, from across the journal: see spread()

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
    mode_switch: str = ""  # what the first pass after a switch to or from a Redis Cluster rewrote (bans/mode_switch.py)
    malformed_kinds: dict[str, int] = field(default_factory=dict)
    instances: SourceReport | None = None  # the instances' (bans/sources.py); None outside BunkerWeb

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
        local = open_source(instances, state)
        with open_journal(state) as journal:
            try:
                indexed = _run(client, journal, result, logger, lock, policy, local)
            except BaseException as error:
                journal.rollback()
                result.duration_ms = int((time.monotonic() - started) * 1000)
                _try_summary(state, journal, result, failed=type(error).__name__)
                raise
            index.save_if_due(journal, indexed)  # the next pass loads the index instead of rebuilding it
            result.duration_ms = int((time.monotonic() - started) * 1000)
            if local is not None:
                local.save(state)  # before the journal: a crash in between re-detects the unbans
            # Inside BunkerWeb the next run starts from the cached copy: a pass that changed rows *or* only
            # its record of Redis (a restore changes no row) must cache it, or the next pass judges from
            # the old record and undoes unbans made meanwhile (issue 16). Redis was written before this
            # point, so a crash here leaves the old record: the next pass restores once more (safe).
            result.saved_bytes = save(state, journal).bytes_written
            write_summary(state, journal, asdict(result))
    return result


def _try_summary(state: StateStore, journal: Journal, result: PassResult, failed: str) -> None:
    with contextlib.suppress(Exception):  # the original error is what matters
        write_summary(state, journal, asdict(result), failed=failed)


def _run(client: Redis, journal: Journal, result: PassResult, logger: logging.Logger, lock: PassLock,
         policy: BanPolicy, local: BanSource | None = None) -> bool:
    """The pass under the lock, committed; whether the index came from a valid base (bans/index.py)."""
    previous = recorded(journal.get_meta, is_cluster(client))
    before = read_state(client, previous)
    journal.begin()
    result.mode_switch = switch_mode(client, journal)  # the journal's bans under this mode's names (bans/mode_switch.py)
    missing, indexed = absorb(client, journal, result)
    after = read_state(client, previous)
    if not unchanged(before, after):
        # A failover, flush or (cluster) slot move happened while we scanned: judge nothing, record nothing; the
        # next pass compares against the identity recorded before it and decides then.
        result.verdict = "Redis changed during the pass; missing bans will be judged next pass"
        journal.commit()
        return indexed
    if lock.lost:
        # Our lock expired and another scheduler may be reconciling: only the lock holder judges.
        result.verdict = f"{BANS_LOCK_KEY} was lost during the pass; missing bans will be judged next pass"
        journal.commit()
        return indexed
    verdict = judge_state(previous, before)
    result.verdict = (DATA_LOSS_VERDICT if verdict.lost and previous is not None else "") + verdict.reason
    if verdict.lost and previous is not None:
        action = "restoring missing bans" if policy.restore_lost else "not restoring them (REDISSYNC_RESTORE_BANS=no)"
        logger.warning(f"redissync-bans: {verdict.reason}; {action}")
    unbanned = _settle_missing(client, journal, missing, verdict, result, policy)
    if local is not None:  # the bans only another source holds (bans/sources.py)
        result.instances = local.settle(client, journal, unbanned, policy.restore_lost)
    result.malformed_kinds = journal.malformed_counts()
    if result.wrong_type:
        result.malformed_kinds["type"] = result.wrong_type
    result.malformed = sum(result.malformed_kinds.values())
    ensure_markers(client, before, previous)
    recording = record(before, read_state(client, before))
    if recording is not None:
        journal.set_meta(*recording)
    journal.commit()
    return indexed


def _settle_missing(client: Redis, journal: Journal, missing: index.Index, verdict: Verdict | ClusterVerdict,
                    result: PassResult, policy: BanPolicy) -> list[Entry]:
    """Journaled bans Redis no longer has: expired, lost (restore, or forget when the operator said so) or
    unbanned (drop + clear counters). Returns the unbanned ones."""
    too_late: list[bytes] = []
    ids = array("q", (packed >> ID_SHIFT for packed in missing.values()))  # 8 B per ban, in the journal's order
    missing.clear()  # the index is no longer needed: a restore's memory comes on top of 8 B per ban, not 100
    lost_ids, gone_ids = _split(journal, ids, verdict)
    stamp = now_ms()

    def live(rows: Iterable[Row]) -> Iterator[Row]:  # handed on as read: a restore streams them
        for row in rows:  # an Entry, or a (key, value, expires_ms) row
            if expired(row[2], stamp):
                too_late.append(row[0])
            else:
                yield row

    unbanned: list[Entry] = []
    if lost_ids and policy.restore_lost:
        result.restored, result.kept = restore(client, live(spread(journal, lost_ids)))
    elif lost_ids:
        result.not_restored = journal.delete([row[0] for row in live(journal.rows_by_ids(lost_ids))])
    if gone_ids:
        unbanned = list(live(journal.by_ids(gone_ids)))
        result.unbans = journal.delete([entry.key for entry in unbanned])
    result.expired = journal.delete(too_late)
    if unbanned and policy.clear_counters_on_unban:
        result.counters_cleared = clear_counters(client, unbanned, filter(None, journal.tally("service")))
    return unbanned


def spread(journal: Journal, ids: array[int]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``ids`` (ascending) for a restore: one in :data:`SPREAD`, taken evenly across them, first and in
    bit-reversed order, then the others as they come. A first pass journals bans in SCAN order, which is Redis's
    hash-bucket order, and a Redis that lost its data without a restart (a ``FLUSHALL``) keeps its hash seed: written
    back in that order, the first thousands fall into a few buckets of the small table an emptied keyspace starts
    with, and each ``SET NX`` compares its key along a chain of hundreds (the first calls of a 1M restore took 4-8 ms,
    docs/bans.md). Taken so, the first rows fill the table's buckets in turn, and the rest's chains stay within about
    :data:`SPREAD` keys; all but those first rows are still read in the journal's order."""
    bits = (len(ids) // SPREAD).bit_length() - 1
    if bits < 1:
        return journal.rows_by_ids(ids)
    count = 1 << bits
    at = [index * len(ids) // count for index in range(count)] + [len(ids)]
    first = list(journal.rows_by_ids(array("q", (ids[position] for position in at[:-1]))))
    rest = array("q")
    for start, end in pairwise(at):
        rest.extend(ids[start + 1:end])
    reversed_order = (int(f"{index:0{bits}b}"[::-1], 2) for index in range(count))
    return chain((first[index] for index in reversed_order if index < len(first)), journal.rows_by_ids(rest))


def _split(journal: Journal, ids: array[int], verdict: Verdict | ClusterVerdict) -> tuple[array[int], array[int]]:
    """The missing bans' row ids: (lost, deleted on purpose). One server's verdict holds for all; a cluster's is
    the verdict of the shard serving each ban's slot."""
    if not verdict.lost:
        return array("q"), ids
    if isinstance(verdict, Verdict) or verdict.all_lost:
        return ids, array("q")
    lost, gone = array("q"), array("q")
    for row_id, key in journal.rows_by_ids(ids, "id, key"):
        (lost if verdict.lost_for(key) else gone).append(row_id)
    return lost, gone
