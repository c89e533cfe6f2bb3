#!/usr/bin/env python3
"""redissync-metrics: one cluster-wide view of BunkerWeb's metrics in Redis, a 24 h series, and hygiene."""

import sys

from redissync.metrics import one_pass
from redissync.runner import run_job

sys.exit(run_job(__file__, one_pass))
