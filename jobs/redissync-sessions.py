#!/usr/bin/env python3
"""redissync-sessions: count live sessions cluster-wide and bound the ones that would live forever."""

import sys

from redissync.runner import run_job
from redissync.sessions import one_pass

sys.exit(run_job(__file__, one_pass))
