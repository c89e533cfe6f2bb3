"""Metrics every instance writes to Redis, merged into one cluster-wide summary.

``cycle`` is one pass (scan, merge, publish the summary), ``hygiene`` tracks and expires keys no instance
writes any more, ``series`` keeps the short history the UI draws. Entry points: :func:`one_pass` (job),
:func:`aggregate_pass` (bench, tests).
"""

from .cycle import aggregate_pass, one_pass

__all__ = ["aggregate_pass", "one_pass"]
