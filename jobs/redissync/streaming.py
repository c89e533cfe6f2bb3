"""Bulk writes without waiting on each round trip: groups of commands streamed on one connection.

redis-py's pipeline waits for every reply of a batch before the next batch is even packed, so Redis and
the job take turns; its per-command bookkeeping also costs more than Redis's own work for small commands.
:func:`stream_groups` keeps ``in_flight`` groups on the wire: Redis executes one while the job packs
the next, so a restore of 100k bans costs about what Redis spends on it (bench/bench_bans.py). Packing and
parsing stay redis-py's (``pack_commands``, ``read_response``), as do the connection's timeouts and TLS.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from redis import Redis
from redis.connection import Connection

IN_FLIGHT = 2  # groups sent ahead of the replies read: one executing, one queued behind it


def stream_groups(client: Redis, groups: Iterable[list[tuple[Any, ...]]], in_flight: int = IN_FLIGHT) -> Iterator[Any]:
    """Each reply of each command of ``groups``, in order. A group is packed and sent as one write.

    An error reply raises (redis-py's exception for it) and the connection is dropped, since replies to
    commands already sent are left unread; so does a consumer that stops early."""
    pool = client.connection_pool
    connection = _checkout(pool)
    try:
        pending: deque[int] = deque()  # replies owed per group sent
        for group in groups:
            connection.send_packed_command(connection.pack_commands(group))
            pending.append(len(group))
            if len(pending) > in_flight:
                for _ in range(pending.popleft()):
                    yield connection.read_response()
        while pending:
            for _ in range(pending.popleft()):
                yield connection.read_response()
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _checkout(pool: Any) -> Connection:
    """A connection from the client's pool (plain, TLS or Sentinel-managed alike)."""
    connection: Connection
    try:
        connection = pool.get_connection()
    except TypeError:  # redis-py < 5.3 requires a command name, which the pool ignores
        connection = pool.get_connection("SET")
    return connection
