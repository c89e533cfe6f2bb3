#!/usr/bin/env python3
"""redissync-metrics: one cluster-wide view of BunkerWeb's metrics in Redis, a 24 h series, and hygiene."""
import sys
from pathlib import Path

JOBS_DIR = str(Path(__file__).resolve().parent)
for extra in (JOBS_DIR, "/usr/share/bunkerweb/deps/python", "/usr/share/bunkerweb/utils", "/usr/share/bunkerweb/db"):
    if extra not in sys.path:
        sys.path.append(extra) if extra.startswith("/usr/share") else sys.path.insert(0, extra)

from redissync.metrics import one_pass  # noqa: E402
from redissync.runner import run_job  # noqa: E402

sys.exit(run_job(__file__, one_pass))
