"""A job's start-up leaves redis-py's asyncio half unexecuted, and it still works the moment it is used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

JOBS = Path(__file__).resolve().parents[2] / "jobs"

# What a job imports (jobs/redissync-bans.py), then what the deferred package holds before and after use.
_CHILD = """
import json, sys
sys.path.insert(0, {jobs!r})
import redissync.bans, redissync.metrics, redissync.runner, redissync.sessions
package = sys.modules["redis.asyncio"]
before = "Redis" in vars(package)
import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
print(json.dumps({{"executed_at_start": before, "client": Redis.__module__, "attribute": redis.asyncio.Redis is Redis,
                  "cluster": RedisCluster.__name__, "missing": not hasattr(package, "NoSuchName")}}))
"""

_ALREADY_IMPORTED = """
import sys
sys.path.insert(0, {jobs!r})
import redis
import redissync.bans
from redissync.startup import _Finder
print(any(isinstance(finder, _Finder) for finder in sys.meta_path), "Redis" in vars(sys.modules["redis.asyncio"]))
"""


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code.format(jobs=str(JOBS))], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_jobs_imports_do_not_execute_redis_asyncio_until_it_is_used() -> None:
    figures = json.loads(_run(_CHILD))
    assert figures == {"executed_at_start": False, "client": "redis.asyncio.client", "attribute": True,
                       "cluster": "RedisCluster", "missing": True}


def test_nothing_changes_when_redis_py_was_imported_first() -> None:
    assert _run(_ALREADY_IMPORTED) == "False True"
