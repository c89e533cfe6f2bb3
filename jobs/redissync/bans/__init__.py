"""Bans shared by every instance, kept through Redis restarts and failovers.

``cycle`` is one pass (scan Redis, journal what changed, restore what a restart lost): ``scanner`` reads ban keys
in bounded batches (``scan_scripts``: the Lua it runs), ``absorb`` compares them with the journal's ``index``,
``identity`` tells a restarted or replaced server from the same one (``shards``: per shard of a Redis Cluster),
``writeback`` writes journaled bans back (SET NX), ``counters`` clears unbanned IPs' bad-behaviour counters,
``mode_switch`` renames bans after a switch to or from a cluster.
``entry`` is the row a raw ban becomes, ``journal`` the local SQLite copy of those rows (``schema``: its tables),
``archive`` its durable form in the job cache (``framing``: its files byte for byte). ``sources`` is what the pass
knows of a source besides Redis: today BunkerWeb's ``instances`` (their answers read by ``listing``), whose bans
``local_only`` decides Redis never had.
``summary`` writes what the UI shows; ``transfer`` (export, import) and ``forget`` serve bwcli. Entry points:
:func:`one_pass` (job), :func:`reconcile` (UI, tests).
"""

from ..clock import now_ms
from .cycle import one_pass, reconcile

__all__ = ["now_ms", "one_pass", "reconcile"]
