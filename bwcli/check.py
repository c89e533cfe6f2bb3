#!/usr/bin/env python3
"""``bwcli plugin redissync check [--json]``: the step-by-step Redis diagnosis, for people and health checks.

Runs in-process under bwcli (exec_module, not __main__) or standalone with env vars:
``USE_REDIS=yes REDIS_HOST=… python bwcli/check.py [--json]``. Exit 0 when healthy (warnings only) or
disabled, 1 when a step failed.
"""

import argparse
import os
import sys
from pathlib import Path

JOBS = str(Path(__file__).resolve().parents[1] / "jobs")
if JOBS not in sys.path:
    sys.path.insert(0, JOBS)

from redissync.diagnose import diagnose  # noqa: E402

parser = argparse.ArgumentParser(prog="bwcli plugin redissync check",
                                 description="Walk the Redis connection step by step and say what is wrong.")
parser.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
arguments = parser.parse_args(sys.argv[1:])
report = diagnose()
if arguments.json:
    print(report.to_json())
else:
    print(report.render_text(colour=sys.stdout.isatty() and not os.environ.get("NO_COLOR")))
sys.exit(0 if report.healthy else 1)
