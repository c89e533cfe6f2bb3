#!/usr/bin/env python3
"""redissync-bans: keep bans alive across Redis data loss and propagate real unbans (one pass a minute)."""

import sys

from redissync.bans import one_pass
from redissync.runner import run_job

sys.exit(run_job(__file__, one_pass))
