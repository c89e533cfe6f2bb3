"""redissync: one shared, self-healing Redis for a BunkerWeb cluster.

Layers, each importing only from the ones before it: settings → connection → domain (diagnose, bans,
metrics, sessions) → presentation (jobs/, bwcli/, ui/). Job entry files stay thin.
"""

import os
import sys

from .startup import defer_unused_imports

__version__ = "1.0.0"

# BunkerWeb's scheduler already has these on sys.path (and jobs/ first); core jobs add them defensively,
# so do we — once, here, instead of in every entry file. They hold redis-py, `logger`, `jobs`, `Database`.
for _extra in ("/usr/share/bunkerweb/deps/python", "/usr/share/bunkerweb/utils", "/usr/share/bunkerweb/db"):
    if _extra not in sys.path and os.path.isdir(_extra):
        sys.path.append(_extra)

defer_unused_imports()  # before anything imports redis-py (startup.py)
