#!/usr/bin/env python3
"""redissync-bans: keep bans alive across Redis data loss and propagate real unbans (one pass a minute)."""
import sys
from pathlib import Path

for extra in (str(Path(__file__).resolve().parent), "/usr/share/bunkerweb/deps/python", "/usr/share/bunkerweb/utils",
              "/usr/share/bunkerweb/db"):
    if extra not in sys.path:
        sys.path.append(extra) if extra.startswith("/usr/share") else sys.path.insert(0, extra)

from redissync.bans import one_pass  # noqa: E402
from redissync.runner import run_job  # noqa: E402

sys.exit(run_job(__file__, one_pass))
