"""Where a pass finds bans besides Redis: the seam for a new source.

A pass first settles Redis against the journal (what is new, lost, expired or unbanned). Then a source writes
the bans only it holds to Redis and the journal, never one the journal has just recorded as unbanned, and
reports what it did. Today's only source is BunkerWeb's instances: :class:`.local_only.LocalBans` (the rule for
copies an instance merely cached) over an :class:`.instances.InstanceSource` (who lists the bans). A new source
implements :class:`BanSource` and is opened in :func:`open_source`; the pass (cycle.py) is not edited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .local_only import InstanceSource, LocalBans

if TYPE_CHECKING:
    from redis import Redis

    from ..state import StateStore
    from .entry import Entry
    from .journal import Journal


class SourceReport(Protocol):
    """What a source did in one pass: a dataclass (cached with the pass's result), worded by ``line``."""

    def line(self) -> str: ...


class BanSource(Protocol):
    def settle(self, client: Redis, journal: Journal, unbanned: list[Entry], restore_lost: bool) -> SourceReport | None:
        """After the journal settled its missing bans: write the bans only this source holds (none when
        ``restore_lost`` is off: then nothing lost comes back, from anywhere); None when it wrote nothing."""
        ...

    def save(self, state: StateStore) -> None:
        """Cache what the source remembers between passes; called before the journal is saved."""
        ...


def open_source(instances: InstanceSource | None, state: StateStore) -> BanSource | None:
    """This pass's source: BunkerWeb's instances when there are some (inside BunkerWeb), else none."""
    return LocalBans.load(instances, state) if instances is not None else None
