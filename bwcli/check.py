#!/usr/bin/env python3
"""``bwcli plugin redissync check [--json]``: the step-by-step Redis diagnosis (logic: redissync.bwcli.check).

Runs in-process under bwcli (exec_module, not __main__) or standalone with env vars:
``USE_REDIS=yes REDIS_HOST=… python bwcli/check.py [--json]``. Exit 0 healthy or disabled, 1 failed, 2 usage."""

import sys
from pathlib import Path

JOBS = str(Path(__file__).resolve().parents[1] / "jobs")
if JOBS not in sys.path:
    sys.path.insert(0, JOBS)

from redissync.bwcli.check import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
