#!/usr/bin/env python3
"""redissync-sessions: count live sessions cluster-wide and bound the ones that would live forever."""
import sys
from pathlib import Path

JOBS_DIR = str(Path(__file__).resolve().parent)
for extra in (JOBS_DIR, "/usr/share/bunkerweb/deps/python", "/usr/share/bunkerweb/utils", "/usr/share/bunkerweb/db"):
    if extra not in sys.path:
        sys.path.append(extra) if extra.startswith("/usr/share") else sys.path.insert(0, extra)

from redissync.runner import run_job  # noqa: E402
from redissync.sessions import one_pass  # noqa: E402

sys.exit(run_job(__file__, one_pass))
