"""Bulk writes without waiting on each round trip: groups of commands streamed on one connection.

redis-py's pipeline waits for every reply of a batch before the next batch is even packed, so Redis and
the job take turns; its per-command bookkeeping also costs more than Redis's own work for small commands.
:class:`Stream` keeps ``in_flight`` groups on the wire: Redis executes one while the job packs
the next, so a restore of 100k bans costs about what Redis spends on it (bench/bench_bans.py). Packing and
parsing stay redis-py's (``pack_commands``, ``read_response``), as do the connection's timeouts and TLS.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from redis import Redis
from redis.connection import Connection

IN_FLIGHT = 2  # groups sent ahead of the replies read: one executing, one queued behind it


class Stream:
    """One connection of ``client`` with groups of commands on the wire, at most ``in_flight`` ahead of the replies
    read (a restore writes through one, or one per master of a Redis Cluster, fed in turn). :meth:`send` hands back
    the groups whose replies it read to make room, each with the tag it was sent with; :meth:`finish` reads the rest
    and gives the connection back. An error reply raises and :meth:`abort` drops the connection (replies to commands
    already sent are left unread); so must a caller that stops early."""

    def __init__(self, client: Redis, in_flight: int = IN_FLIGHT):
        self._pool = client.connection_pool
        self._connection: Connection | None = _checkout(self._pool)
        self._pending: deque[tuple[Any, int]] = deque()  # (tag, replies owed) per group sent
        self._in_flight = in_flight

    def send(self, group: list[tuple[Any, ...]], tag: Any = None) -> list[tuple[Any, list[Any]]]:
        connection = self._live()
        connection.send_packed_command(connection.pack_commands(group))
        self._pending.append((tag, len(group)))
        return [self._read(connection) for _ in range(len(self._pending) - self._in_flight)]

    def finish(self) -> list[tuple[Any, list[Any]]]:
        connection = self._live()
        done = [self._read(connection) for _ in range(len(self._pending))]
        self._pool.release(connection)
        self._connection = None
        return done

    def abort(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
            self._pool.release(self._connection)
            self._connection = None

    def _live(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("this stream is finished")
        return self._connection

    def _read(self, connection: Connection) -> tuple[Any, list[Any]]:
        tag, owed = self._pending.popleft()
        return tag, [connection.read_response() for _ in range(owed)]


def _checkout(pool: Any) -> Connection:
    """A connection from the client's pool (plain, TLS or Sentinel-managed alike)."""
    connection: Connection
    try:
        connection = pool.get_connection()
    except TypeError:  # redis-py < 5.3 requires a command name, which the pool ignores
        connection = pool.get_connection("SET")
    return connection
