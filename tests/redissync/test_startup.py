"""A job's start-up leaves redis.asyncio and importlib.metadata unexecuted, and both work the moment they are used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

JOBS = Path(__file__).resolve().parents[2] / "jobs"

# What a job imports (jobs/redissync-*.py) and the client it builds, then what the deferred packages hold
# before and after use.
_CHILD = """
import json, sys
sys.path.insert(0, {jobs!r})
import redissync.bans, redissync.metrics, redissync.runner, redissync.sessions
from redissync.connection import connect
from redissync.settings import load_settings
connect(load_settings({{"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1"}}))
package = sys.modules["redis.asyncio"]
metadata = sys.modules.get("importlib.metadata")  # (redis-py 8 imports it; older releases may not)
before = "Redis" in vars(package) or (metadata is not None and "version" in vars(metadata))
import importlib.metadata
import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
print(json.dumps({{"executed_at_start": before, "client": Redis.__module__, "attribute": redis.asyncio.Redis is Redis,
                  "cluster": RedisCluster.__name__, "missing": not hasattr(package, "NoSuchName"),
                  "version": importlib.metadata.version("redis") == redis.__version__}}))
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


def test_the_jobs_imports_and_client_do_not_execute_the_deferred_packages_until_used() -> None:
    figures = json.loads(_run(_CHILD))
    assert figures == {"executed_at_start": False, "client": "redis.asyncio.client", "attribute": True,
                       "cluster": "RedisCluster", "missing": True, "version": True}


def test_nothing_changes_when_redis_py_was_imported_first() -> None:
    assert _run(_ALREADY_IMPORTED) == "False True"


_STDLIB_UNUSED = """
import sys
sys.path.insert(0, {jobs!r})
import redissync.bans, redissync.metrics, redissync.runner, redissync.sessions
print(" ".join(name for name in ("http.client", "tempfile", "shutil") if name in sys.modules))
"""


def test_the_jobs_imports_leave_out_what_only_stand_ins_and_tools_use() -> None:
    """http.client serves only the instances' stand-in outside BunkerWeb; tempfile (shutil, bz2, lzma) only
    the TLS diagnosis: ≈ 7 ms of every job's start-up together."""
    assert _run(_STDLIB_UNUSED) == ""
