"""The mode switch: a journal written under one mode's key names meeting Redis in the other mode.

BunkerWeb names a ban ``bans_ip_<ip>`` outside cluster mode and ``bans_ip_{<ip>}`` in it (keys.py), and its docs
say that a switch to cluster mode starts from an empty keyspace, permanent bans to be re-applied by hand. The
journal holds them: on the first pass in the new mode, before the pass reads Redis, :func:`switch_mode` writes the
journal's live bans under the new names with their remaining TTLs (``SET NX``: a ban an instance made meanwhile
wins; routed per slot on a cluster by bans/writeback.py) and renames their rows. So the old names are never bans
missing from Redis to the pass: no unban, no counter cleared, no restore under a name BunkerWeb no longer reads.
Switching back is the same. The journal records the mode of its last pass (meta ``mode``): a pass in the same mode
costs one meta read. Everything happens in the pass's transaction: a pass that fails rolls the renames back, and
the next one writes again (NX: nothing doubles). A row keeps its id and columns: only its key changes.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from redis import Redis

from ..keys import ban_key_in
from ..keyspace import is_cluster
from .journal import ID_SHIFT, Journal
from .writeback import restore

MODE_META = "mode"  # "cluster" or "standalone" (Sentinel included: BunkerWeb's historical names)
CHUNK = 10_000  # rows renamed per step: read whole, written back, then renamed (bounded memory)


@dataclass(frozen=True)
class Switched:
    """What one mode switch did."""

    mode: str
    renamed: int = 0  # journal rows now under the new names (expired ones too: the pass drops them as expired)
    rewritten: int = 0  # written to Redis under the new names
    kept: int = 0  # already in Redis under the new name (made since the switch): kept as they are

    def line(self) -> str:
        """The pass line's part (empty when nothing had to move)."""
        if not self.renamed:
            return ""
        return (f"mode switch: {self.rewritten} bans rewritten under {self.mode} names"
                + (f", {self.kept} already there (kept)" if self.kept else ""))


def switch_mode(client: Redis, journal: Journal) -> str:
    """Called once by the pass in its transaction, before it reads Redis; the pass line's part, empty when the
    journal's last pass ran in the same mode (or had nothing to move)."""
    cluster = is_cluster(client)
    mode = "cluster" if cluster else "standalone"
    if journal.get_meta(MODE_META) == mode:
        return ""
    switched = rename(client, journal, mode)
    journal.set_meta(MODE_META, mode)
    return switched.line()


def rename(client: Redis, journal: Journal, mode: str) -> Switched:
    """Every journaled ban not under ``mode``'s name: written back under it (live ones), row renamed."""
    cluster = mode == "cluster"
    stale = _stale_ids(journal, cluster)
    journal.tracks_index = True  # the index kept on disk learns both names' changes (bans/index.py)
    renamed = rewritten = kept = 0
    for start in range(0, len(stale), CHUNK):
        rows = journal.rows_by_ids(stale[start:start + CHUNK], "id, key, value, expires_ms")
        moved = [(row_id, key, ban_key_in(key, cluster), value, expires_ms) for row_id, key, value, expires_ms in rows]
        moved = [row for row in moved if row[2] != row[1]]  # a key that only looks named the other way stays
        written, present = restore(client, [(new, value, expires_ms) for _, _, new, value, expires_ms in moved])
        journal.rename([(row_id, old, new) for row_id, old, new, _, _ in moved])
        renamed, rewritten, kept = renamed + len(moved), rewritten + written, kept + present
    return Switched(mode, renamed, rewritten, kept)


def _stale_ids(journal: Journal, cluster: bool) -> array[int]:
    """Row ids of the bans that may be named the other mode's way (a cluster name ends with its ``{<ip>}`` tag); 8 B each."""
    ids = array("q")
    for key, packed in journal.index_rows():
        if key.endswith(b"}") != cluster:
            ids.append(packed >> ID_SHIFT)
    return ids
