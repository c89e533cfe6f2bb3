#!/usr/bin/env python3
"""redissync-check: diagnose the Redis connection every minute, log the verdict, cache the report for the UI.

Exit 0 when healthy (warnings only) or USE_REDIS=no, 2 with the first failure's sentence otherwise.
"""

import os
import sys

from redissync.diagnose import diagnose
from redissync.diagnose.capacity import instance_count
from redissync.figures import job_ended
from redissync.reports import record
from redissync.runner import EXIT_FAILED, EXIT_OK, get_logger
from redissync.settings import api_token
from redissync.state import open_state

LOGGER = get_logger("redissync-check")
state = open_state(__file__)
report = diagnose(instances=instance_count(state.bunkerweb_db))
try:
    record(report, state)
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
if report.enabled:
    job_ended("redissync-check", lambda: state, report.healthy, report.duration_ms / 1000,
              api_token(os.environ), LOGGER)
sys.exit(EXIT_OK if report.healthy else EXIT_FAILED)
