"""The connections BunkerWeb's instances keep to Redis, against the server's ``maxclients``.

BunkerWeb 1.6.15 raised REDIS_KEEPALIVE_POOL's default from 10 to 64 and says why it matters (core redis
plugin.json, 1.6.15~rc2): "Steady-state connections are roughly nginx_workers x pool x instances and must stay
within the Redis/Valkey maxclients limit". A server past ``maxclients`` refuses new connections ("max number of
clients reached"): bans, sessions and metrics stop on the instances that cannot connect. The figures: the
instances BunkerWeb's database lists (1 assumed outside BunkerWeb), the nginx workers per instance from
WORKER_PROCESSES (``auto``, BunkerWeb's default, is one per CPU core of each instance: the scheduler's own count is
the stated assumption), the pool, and ``maxclients`` from INFO (Redis 7+, Valkey) or ``CONFIG GET maxclients``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NEAR_RATIO = 0.8  # above 80 % of maxclients a restart storm, the jobs and the web UI tip it over


@dataclass(frozen=True)
class Capacity:
    workers: int
    workers_source: str
    pool: int
    instances: int
    instances_source: str
    maxclients: int | None

    @property
    def expected(self) -> int:
        return self.workers * self.pool * self.instances

    def _sum(self) -> str:
        return (f"{self.workers} nginx workers × {self.pool} (REDIS_KEEPALIVE_POOL) × {self.instances} instances = "
                f"{self.expected} connections")

    def warning(self) -> str | None:
        if self.maxclients is None or self.expected <= NEAR_RATIO * self.maxclients:
            return None
        where = "above" if self.expected > self.maxclients else "close to"
        return (f"BunkerWeb's steady-state connections to Redis, about {self._sum()}, are {where} the server's "
                f"maxclients {self.maxclients} ({self.workers_source}; {self.instances_source}): lower "
                "REDIS_KEEPALIVE_POOL, or raise maxclients on the server")

    def note(self) -> str:
        """The figures when they are no warning (information: a healthy install reads as healthy)."""
        limit = f"within maxclients {self.maxclients}" if self.maxclients is not None else \
            "maxclients unknown (neither INFO nor CONFIG GET maxclients told it)"
        return f"connections BunkerWeb keeps to Redis: about {self._sum()}, {limit} ({self.workers_source}; {self.instances_source})"


def workers(env: Mapping[str, str]) -> tuple[int, str]:
    """nginx workers per instance: WORKER_PROCESSES (BunkerWeb's setting, default ``auto``)."""
    value = str(env.get("WORKER_PROCESSES", "auto")).strip()
    if value.isascii() and value.isdigit() and int(value) > 0:
        return int(value), f"WORKER_PROCESSES={value}"
    cores = os.cpu_count() or 1
    return cores, (f"WORKER_PROCESSES={value or 'auto'}: one worker per CPU core of each instance, assumed {cores} "
                   "(the scheduler's own core count)")


def instance_count(db: Any) -> int | None:
    """How many instances BunkerWeb's database lists (None outside BunkerWeb, or when it cannot tell)."""
    if db is None or not hasattr(db, "get_instances"):
        return None
    try:
        return len([row for row in db.get_instances() or [] if row])
    except Exception:  # the database is BunkerWeb's: a failure here must not fail the check
        return None


def capacity(env: Mapping[str, str], pool: int, instances: int | None, maxclients: int | None) -> Capacity:
    count, source = workers(env)
    if instances is None:
        return Capacity(count, source, pool, 1, "1 instance assumed (no BunkerWeb database here)", maxclients)
    return Capacity(count, source, pool, max(instances, 1), f"BunkerWeb's database lists {instances} instances", maxclients)
