"""The connection diagnosis: walk DNS → TCP → TLS → AUTH → PING (or each Sentinel, then the master it names; or
each Redis Cluster seed, then the cluster's shards and nodes) and say, step by step, what works and what to change.

``walk`` runs the steps, ``network`` probes endpoints (DNS, TCP, TLS), ``session`` talks Redis on one
endpoint, ``sentinel`` walks a Sentinel topology, ``cluster`` a Redis Cluster. Entry point: :func:`diagnose`.
"""

from .run import diagnose

__all__ = ["diagnose"]
