"""Bans shared by every instance, kept through Redis restarts and failovers.

``cycle`` is one pass (scan Redis, journal what changed, restore what a restart lost), ``scanner`` reads
ban keys in bounded batches, ``entry`` is the row a raw ban becomes, ``writeback`` writes journaled bans
back (SET NX), ``journal`` is the local SQLite copy of :class:`.entry.Entry` rows, ``identity`` tells a
restarted or replaced server from the same one, ``summary`` writes what the UI shows, ``transfer``
exports and imports ban lines for bwcli, ``instances`` asks BunkerWeb's instances for their local bans
and ``local_only`` decides which of those Redis never had. Entry points: :func:`one_pass` (job),
:func:`reconcile` (UI, tests).
"""

from ..clock import now_ms
from .cycle import one_pass, reconcile

__all__ = ["now_ms", "one_pass", "reconcile"]
