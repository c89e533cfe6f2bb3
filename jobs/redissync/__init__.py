"""redissync: one shared, self-healing Redis for a BunkerWeb cluster.

Layers, each importing only from the ones before it: settings → connection → domain (diagnose, bans,
metrics, sessions) → presentation (jobs/, bwcli/, ui/). Job entry files stay thin.
"""

__version__ = "1.0.0"
