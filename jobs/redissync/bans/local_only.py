"""Local-only bans: bans an instance holds that neither Redis nor the journal has, written to both.

The hard part is what *not* to write. CrowdSec's ban leases (1.6.16, listed with ``"kind": "crowdsec_lease"``)
never are: only CrowdSec renews or lifts them, and a copy would outlive the decision. An instance also lists
the copies of Redis bans it cached when it checked an IP (``utils.is_banned``, at most ``BAN_LOCAL_CACHE_TTL``
= 30 s), and a cached permanent ban is listed exactly like a real one (``exp: 0, permanent: true``). Copying
such a copy back into Redis after the ban was lifted would undo the unban. The rule (docs/bans.md, "Bans only an instance has"):

1. a ban the journal has (in Redis now, or being restored or judged) is the journal's business, not ours;
2. a copy of a ban the journal recorded as **unbanned** is never written back, unless its ``date`` is later
   than the unban (a new ban of the same IP);
3. a copy with more than 30 s left and an expiry (``permanent: false``) cannot be a cache copy: written now;
4. a copy with 30 s or less left may be a cache copy and would be gone before the next pass: left alone;
5. a permanent copy (``exp: 0``) may be a cache copy: it is remembered, and written only when a pass at
   least :data:`CONFIRM_MS` later still finds it (same ``date``) while Redis and the journal still lack it. A
   cache copy cannot last that long without Redis holding the ban, so what survives the wait is a real one.

What the rule needs between passes (unbans recorded, permanent copies waiting) is kept in
``bans-instances.json`` through the job's state store (BunkerWeb's job cache inside BunkerWeb).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from redis import Redis

from ..clock import now_ms
from ..keys import ban_key_in
from ..keyspace import is_cluster
from .entry import Entry, classify_row
from .instances import InstanceSource, instance_source
from .journal import Journal
from .listing import InstanceBan, ban_key, expired_row, parse_ban
from .summary import instances_line
from .writeback import restore

if TYPE_CHECKING:
    from ..state import StateStore

__all__ = ["InstanceSource", "InstancesReport", "LocalBans", "instance_source"]  # what the pass and sources.py use

MEMORY_NAME = "bans-instances.json"
BAN_LOCAL_CACHE_TTL_S = 30  # BunkerWeb's utils.lua: how long an instance keeps a copy of a Redis ban
CONFIRM_MS = (BAN_LOCAL_CACHE_TTL_S + 5) * 1000  # the cache TTL plus slack for clocks and a slow scan
MAX_REMEMBERED = 100_000  # unbans and waiting copies kept, newest first


def wall_ms() -> int:
    """:func:`clock.now_ms`, through a seam tests use to move time past the 30 s cache window."""
    return now_ms()


@dataclass
class InstancesReport:
    """What the instances contributed to one pass (in ``PassResult.instances`` and the UI summary)."""

    instances: int = 0
    answered: int = 0
    silent: dict[str, str] = field(default_factory=dict)  # instance → why it did not answer
    propagated: int = 0
    sources: int = 0  # instances whose copies were propagated
    already_there: int = 0  # written by someone else between our scan and our SET NX
    waiting: int = 0  # permanent copies waiting for the confirming pass (rule 5)
    unbanned_copies: int = 0  # copies of recorded unbans, ignored (rule 2)
    short_lived: int = 0  # copies with 30 s or less left, ignored (rule 4)
    malformed: int = 0
    leases: int = 0  # CrowdSec leases the instances listed: CrowdSec's, never propagated
    other_kinds: int = 0  # rows of a kind this version does not know: skipped

    def line(self) -> str:
        return instances_line(asdict(self))


class LocalBans:
    """The instances' side of a pass: unbans to remember, local-only bans to propagate."""

    def __init__(self, source: InstanceSource | None, unbanned: dict[str, list[Any]], waiting: dict[str, list[Any]], cleared_ms: int = 0):
        self.source = source
        self.unbanned = unbanned  # key → [unbanned at ms, ban expiry ms or None]
        self.waiting = waiting  # key → [first seen ms, the copy's date]
        self.cleared_ms = cleared_ms  # `bans forget --all`: every copy dated before this was cleared on purpose
        self.dirty = False

    @classmethod
    def load(cls, source: InstanceSource | None, state: StateStore) -> LocalBans:
        data = state.read_json(MEMORY_NAME)
        data = data if isinstance(data, dict) else {}
        unbanned, waiting, cleared = data.get("unbanned"), data.get("waiting"), data.get("cleared_ms")
        return cls(source, unbanned if isinstance(unbanned, dict) else {}, waiting if isinstance(waiting, dict) else {},
                   cleared if cleared.__class__ is int else 0)

    def save(self, state: StateStore) -> None:
        """Cache the memory when it changed (before the journal: a crash in between re-detects the unbans)."""
        if self.dirty:
            state.write_json(MEMORY_NAME, {"unbanned": self.unbanned, "waiting": self.waiting, "cleared_ms": self.cleared_ms})
            self.dirty = False

    @classmethod
    def clear_all(cls, state: StateStore) -> None:
        """``bans forget --all``: no copy an instance holds of a ban made until now is ever propagated."""
        memory = cls.load(None, state)
        memory.unbanned, memory.waiting, memory.cleared_ms, memory.dirty = {}, {}, wall_ms(), True
        memory.save(state)

    def record_unbans(self, entries: Iterable[Entry]) -> None:
        now_ms = wall_ms()
        for entry in entries:
            self.unbanned[entry.key.decode("utf-8", "replace")] = [now_ms, entry.expires_ms]
            self.dirty = True

    def _name_as(self, cluster: bool) -> None:
        """After a switch to or from a Redis Cluster (bans/mode_switch.py), what is remembered under the other mode's
        names goes under this one's: an unban recorded before the switch still blocks the copies listed after it."""
        for memory in (self.unbanned, self.waiting):
            for key in [key for key in memory if key.endswith("}") != cluster]:
                renamed = ban_key_in(key.encode(), cluster).decode()
                if renamed != key:
                    memory.setdefault(renamed, memory.pop(key))  # one already under this name is the newer
                    self.dirty = True

    def _blocked(self, ban: InstanceBan) -> bool:
        if (ban.date or 0) * 1000 <= self.cleared_ms:
            return True
        unban = self.unbanned.get(ban.key)
        return unban is not None and (ban.date is None or ban.date * 1000 <= unban[0])

    def _confirmed(self, ban: InstanceBan, now_ms: int) -> bool:
        seen = self.waiting.get(ban.key)
        if seen is not None and seen[1] == ban.date:
            if now_ms - seen[0] >= CONFIRM_MS:
                del self.waiting[ban.key]
                self.dirty = True
                return True
            return False
        self.waiting[ban.key] = [now_ms, ban.date]
        self.dirty = True
        return False

    def settle(self, client: Redis, journal: Journal, unbanned: list[Entry], restore_lost: bool) -> InstancesReport | None:
        """After the journal settled its missing bans: remember its unbans, then propagate the local-only bans
        (not with ``REDISSYNC_RESTORE_BANS=no``: then nothing lost comes back, from anywhere)."""
        self.record_unbans(unbanned)
        return self.propagate(client, journal) if restore_lost else None

    def propagate(self, client: Redis, journal: Journal) -> InstancesReport:
        """Fetch every instance's bans, write the local-only ones (``SET NX``, remaining TTL) and journal them."""
        report = InstancesReport()
        assert self.source is not None  # propagate() runs only for a LocalBans loaded with a source
        answers = self.source.fetch_bans()
        now_s = wall_ms() / 1000
        cluster = is_cluster(client)
        self._name_as(cluster)
        if cluster:  # the rows name IPs: each ban under Redis Cluster mode's name (listing.ban_key)
            for answer in answers:
                answer.listed = {ban_key(item, cluster) or key: item for key, item in answer.listed.items()}
        unknown: dict[str, list[tuple[str, InstanceBan]]] = {}
        for answer in answers:
            report.instances += 1
            if answer.error is not None:
                report.silent[answer.name] = answer.error
                continue
            report.answered += 1
            report.malformed += answer.malformed
            report.leases += answer.leases
            report.other_kinds += answer.other_kinds
            known = journal.known([key.encode() for key in answer.listed])
            for key, item in answer.listed.items():
                if key.encode() not in known:  # rule 1: what the journal has is the journal's business
                    ban = parse_ban(item, now_s, cluster)
                    if ban is None and expired_row(item, now_s):
                        report.short_lived += 1
                    elif ban is None:
                        report.malformed += 1
                    else:
                        unknown.setdefault(key, []).append((answer.name, ban))
        now_ms = wall_ms()
        chosen: list[tuple[str, InstanceBan]] = []
        for copies in unknown.values():
            pick = self._choose(copies, now_ms, report)
            if pick is not None:
                chosen.append(pick)
        remembered = self.waiting.keys() | self.unbanned.keys()
        listed = {key for key in remembered if any(key in answer.listed for answer in answers)}
        del answers
        written: list[Sequence[Any]] = []  # (key, value, expiry ms) of the bans written
        restore(client, [(ban.key.encode(), ban.value(now_ms / 1000), None if ban.permanent else now_ms + ban.exp * 1000)
                         for _, ban in chosen], now_ms, written)
        journal.upsert_rows([classify_row(key, value, expires_ms, now_ms) for key, value, expires_ms in written])
        report.propagated = len(written)
        report.already_there = len(chosen) - len(written)
        written_keys = {row[0] for row in written}
        report.sources = len({name for name, ban in chosen if ban.key.encode() in written_keys})
        self._prune(now_ms, listed, everyone_answered=not report.silent)
        return report

    def _choose(self, listed: list[tuple[str, InstanceBan]], now_ms: int, report: InstancesReport) -> tuple[str, InstanceBan] | None:
        """The copy to propagate for one key, or None (rules 2 to 5 of the module docstring)."""
        live = [(name, ban) for name, ban in listed if not self._blocked(ban)]
        if not live:
            report.unbanned_copies += 1
            return None
        firm = [(name, ban) for name, ban in live if not ban.permanent and ban.exp > BAN_LOCAL_CACHE_TTL_S]
        if firm:
            if self.waiting.pop(firm[0][1].key, None) is not None:
                self.dirty = True
            return max(firm, key=lambda pair: pair[1].exp)
        permanent = [(name, ban) for name, ban in live if ban.permanent]
        if not permanent:
            report.short_lived += 1
            return None
        name, ban = max(permanent, key=lambda pair: pair[1].date or 0)
        if self._confirmed(ban, now_ms):
            return name, ban
        report.waiting += 1
        return None

    def _prune(self, now_ms: int, listed: set[str], everyone_answered: bool) -> None:
        """Forget waiting copies no instance lists any more, and unbans no copy can come back from: the ban
        has expired, or every instance answered without it once its cache copies had time to expire."""
        for key in [key for key in self.waiting if key not in listed]:
            del self.waiting[key]
            self.dirty = True
        for key, (unbanned_ms, expires_ms) in list(self.unbanned.items()):
            settled = everyone_answered and key not in listed and now_ms - unbanned_ms >= BAN_LOCAL_CACHE_TTL_S * 1000
            if settled or (expires_ms is not None and expires_ms <= now_ms):
                del self.unbanned[key]
                self.dirty = True
        for memory, stamp in ((self.unbanned, 0), (self.waiting, 0)):
            if len(memory) > MAX_REMEMBERED:
                for key in sorted(memory, key=lambda k: memory[k][stamp])[:len(memory) - MAX_REMEMBERED]:
                    del memory[key]
                self.dirty = True

