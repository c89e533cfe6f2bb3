"""Forget the ban journal on purpose, so that bans cleared with a deliberate FLUSHALL never come back; or forget
one IP: its bans lifted in Redis and dropped from the journal, so that no restore brings them back.

The journal is what lets a pass restore bans Redis lost; an operator who clears bans on purpose wants the
opposite. Forgetting takes the pass lock (a pass running meanwhile would write its journal back) and is
cached like a pass's journal: inside BunkerWeb the database copy is what the next run starts from. One IP's
keys are found on every master of a Redis Cluster (one SCAN per node, under either mode's names) and
UNLINKed slot by slot (keyspace.unlink); CrowdSec's leases of that IP are CrowdSec's and stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis import Redis

from ..clock import now_ms
from ..errors import PassRunning
from ..keys import BAD_BEHAVIOR_PATTERN, BANS_LOCK_KEY, is_crowdsec_key, split_ban_key
from ..keyspace import glob_escape, scan_nodes, unlink
from ..lock import exclusive_pass
from ..state import StateStore
from .archive import erase, open_journal, save
from .entry import Entry
from .local_only import LocalBans

RUNNING = f"a bans pass is running ({BANS_LOCK_KEY} is held): try again in a minute"


@contextmanager
def _pass_lock(client: Redis) -> Iterator[None]:
    """The bans pass's lock for a forget, or :class:`PassRunning` when a pass holds it."""
    with exclusive_pass(client, "bans") as lock:
        if lock is None:
            raise PassRunning(RUNNING)
        yield


@dataclass(frozen=True)
class Forgotten:
    journaled: int  # bans the journal held
    live: int  # of which not expired yet (those a pass would restore after a FLUSHALL)
    done: bool  # False for a dry run

    def line(self) -> str:
        what = f"{self.journaled} journaled bans ({self.live} not expired)"
        if not self.done:
            return (f"would forget {what}: after that, bans missing from Redis are never restored. "
                    "Nothing changed; run again with --yes to forget them")
        return (f"forgot {what}: bans missing from Redis now will not come back. Bans still in Redis are "
                "journaled again at the next pass (each minute): FLUSHALL before it, or set "
                "REDISSYNC_RESTORE_BANS=no first")


def count(state: StateStore) -> Forgotten:
    """What :func:`forget_all` would forget (reads the journal only; no Redis needed)."""
    with open_journal(state, readonly=True) as journal:
        return Forgotten(journal.count(), sum(journal.counts_by("scope", now_ms()).values()), done=False)


def forget_all(client: Redis, state: StateStore) -> Forgotten:
    """Empty the journal under the pass lock and cache it; raises :class:`PassRunning` when a pass runs."""
    with _pass_lock(client):
        before = count(state)
        erase(state)  # the journal, its copy in BunkerWeb's job cache and the Redis identity record
        LocalBans.clear_all(state)  # nor from the copies the instances still hold (bans/local_only.py)
    return Forgotten(before.journaled, before.live, done=True)


@dataclass(frozen=True)
class ForgottenIP:
    ip: str
    journaled: int  # the IP's journaled bans, every scope (expired ones too)
    keys: int  # its ban keys in Redis: every scope, either mode's names, every master
    counters: int  # its bad-behaviour counters in Redis (with REDISSYNC_UNBAN_CLEARS_BAD_BEHAVIOR=yes)
    done: bool  # False for a dry run

    def line(self) -> str:
        what = (f"{self.journaled} journaled bans of {self.ip}, and its {self.keys} ban keys and {self.counters} "
                "bad-behaviour counters in Redis")
        if not self.done:
            return f"would forget {what}. Nothing changed; run again with --yes to lift and forget them"
        return (f"forgot {what}: {self.ip} is unbanned everywhere and no restore brings those bans back (a new ban of "
                "it is journaled as usual)")


def forget_ip(client: Redis, state: StateStore, ip: str, apply: bool, counters: bool = True) -> ForgottenIP:
    """``ip``'s bans lifted in Redis (and its counters deleted, with ``counters``) and dropped from the journal,
    under the pass lock; a dry run without ``apply``. Raises :class:`PassRunning` when a pass runs."""
    if not apply:
        bans, found = ip_keys(client, ip, counters)
        with open_journal(state, readonly=True) as journal:
            return ForgottenIP(ip, sum(1 for _ in journal.entries(ip=ip)), len(bans), len(found), done=False)
    with _pass_lock(client):
        bans, found = ip_keys(client, ip, counters)
        unlink(client, bans + found)  # Redis first: a crash before the journal is saved leaves a plain unban
        with open_journal(state) as journal:
            journal.begin()
            rows = list(journal.entries(ip=ip))
            journal.delete([entry.key for entry in rows])
            journal.commit()
            save(state, journal)
        memory = LocalBans.load(None, state)  # the instances' own copies of those bans are not propagated back
        memory.record_unbans([*rows, *(Entry(key, b"", None) for key in bans)])
        memory.save(state)
    return ForgottenIP(ip, len(rows), len(bans), len(found), done=True)


def ip_keys(client: Redis, ip: str, counters: bool) -> tuple[list[bytes], list[bytes]]:
    """``ip``'s ban keys and (with ``counters``) bad-behaviour counters, under either mode's names: one SCAN of every
    master for keys holding the IP, then exact matching (never a CrowdSec lease or fence)."""
    bans: list[bytes] = []
    found: list[bytes] = []
    tails = (f"_{ip}".encode(), f"_{{{ip}}}".encode())
    for batch in scan_nodes(client, f"*{glob_escape(ip)}*"):
        for key in batch:
            if is_crowdsec_key(key):
                continue
            parsed = split_ban_key(key)
            if parsed is not None and parsed[0] == ip:
                bans.append(key)
            elif counters and key.startswith(BAD_BEHAVIOR_PATTERN[:-1].encode()) and key.endswith(tails):
                found.append(key)
    return bans, found
