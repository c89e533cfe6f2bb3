#!/usr/bin/env python3
"""redissync-check: diagnose the Redis connection every minute, log the verdict, cache the report for the UI.

Exit 0 when healthy (warnings only) or USE_REDIS=no, 2 with the first failure's sentence otherwise.
"""

import sys
from pathlib import Path

JOBS_DIR = str(Path(__file__).resolve().parent)
for extra in (JOBS_DIR, "/usr/share/bunkerweb/deps/python", "/usr/share/bunkerweb/utils", "/usr/share/bunkerweb/db"):
    if extra not in sys.path:
        sys.path.append(extra) if extra.startswith("/usr/share") else sys.path.insert(0, extra)

from redissync.diagnose import diagnose  # noqa: E402
from redissync.report import record  # noqa: E402
from redissync.runner import EXIT_FAILED, EXIT_OK, get_logger  # noqa: E402
from redissync.state import open_state  # noqa: E402

LOGGER = get_logger("redissync-check")
report = diagnose()
try:
    record(report, open_state(__file__))
except OSError as error:  # a full disk must not hide the verdict
    LOGGER.warning(f"redissync-check could not store its report ({type(error).__name__}); the verdict follows")
for warning in report.warnings:
    LOGGER.warning(warning)
if not report.enabled:
    LOGGER.info("redissync-check: USE_REDIS is not yes, redissync is disabled: nothing to check")
elif report.healthy:
    LOGGER.info(f"redissync-check: {report.headline} ({report.duration_ms:.1f} ms)")
else:
    LOGGER.error(f"redissync-check failed at {report.failure.title}: {report.failure.sentence}")
sys.exit(EXIT_OK if report.healthy else EXIT_FAILED)
