"""A probe job: the shape of a real redissync job (scan BunkerWeb keys, journal to Redis and state), run
through the real runner and entry-file model. It keeps the fault suite meaningful before the real jobs
land, and checks the runner itself under every fault.
"""

from __future__ import annotations

import logging
from pathlib import Path

from redis import Redis

from redissync.settings import Settings
from redissync.state import StateStore

PROBE_JOB = "redissync-probe"
JOURNAL_KEY = "redissync:probe:journal"
STATE_FILE = "probe-journal.json"

ENTRY_TEMPLATE = '''#!/usr/bin/env python3
"""redissync-probe: a test job with the entry-file shape of the real ones."""
import sys
from pathlib import Path
for extra in (str(Path(__file__).resolve().parent), "/usr/share/bunkerweb/deps/python", "/usr/share/bunkerweb/utils"):
    if extra not in sys.path:
        sys.path.append(extra) if extra.startswith("/usr/share") else sys.path.insert(0, extra)
from redissync.runner import run_job  # noqa: E402
from tests.reliability.probe import one_pass  # noqa: E402
sys.exit(run_job(__file__, one_pass))
'''


def one_pass(settings: Settings, client: Redis, state: StateStore, logger: logging.Logger) -> str:
    """Read every ban key, journal their names in Redis and in a state file; several round trips."""
    bans = sorted(key.decode() for key in client.scan_iter(match="bans_*", count=100))
    previous = state.read_json(STATE_FILE) or {"passes": 0, "bans": []}
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(JOURNAL_KEY)
        if bans:
            pipe.sadd(JOURNAL_KEY, *bans)
        pipe.execute()
    state.write_json(STATE_FILE, {"passes": previous["passes"] + 1, "bans": sorted(set(previous["bans"]) | set(bans))})
    return f"{len(bans)} bans journaled"


def write_entry(directory: Path) -> Path:
    path = directory / f"{PROBE_JOB}.py"
    path.write_text(ENTRY_TEMPLATE)
    return path
