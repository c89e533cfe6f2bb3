#!/usr/bin/env python3
"""``bwcli plugin redissync sessions stats|revoke``: cluster-wide sessions (logic: redissync.bwcli.sessions)."""

import sys
from pathlib import Path

JOBS = str(Path(__file__).resolve().parents[1] / "jobs")
if JOBS not in sys.path:
    sys.path.insert(0, JOBS)

from redissync.bwcli.sessions import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
