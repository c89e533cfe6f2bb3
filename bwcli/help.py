#!/usr/bin/env python3
"""``bwcli plugin redissync help [command]``: the commands and their options (logic: redissync.bwcli.help)."""

import sys
from pathlib import Path

JOBS = str(Path(__file__).resolve().parents[1] / "jobs")
if JOBS not in sys.path:
    sys.path.insert(0, JOBS)

from redissync.bwcli.help import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
