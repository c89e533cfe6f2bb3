"""Forget the ban journal on purpose, so that bans cleared with a deliberate FLUSHALL never come back.

The journal is what lets a pass restore bans Redis lost; an operator who clears every ban on purpose wants
the opposite. Forgetting takes the pass lock (a pass running meanwhile would write its journal back) and is
cached like a pass's journal: inside BunkerWeb the database copy is what the next run starts from.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from ..clock import now_ms
from ..errors import PassRunning
from ..keys import BANS_LOCK_KEY
from ..lock import exclusive_pass
from ..state import StateStore
from .archive import erase, open_journal
from .local_only import LocalBans


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
    with exclusive_pass(client, "bans") as lock:
        if lock is None:
            raise PassRunning(f"a bans pass is running ({BANS_LOCK_KEY} is held): try again in a minute")
        before = count(state)
        erase(state)  # the journal, its copy in BunkerWeb's job cache and the Redis identity record
        LocalBans.clear_all(state)  # nor from the copies the instances still hold (bans/local_only.py)
    return Forgotten(before.journaled, before.live, done=True)
