"""Figures a Prometheus server scrapes and alerts on (docs/observability.md).

``record`` keeps each job's runs and counters in its job cache (monotonic across runs and schedulers),
``families`` turns a job's cached files into metric families, ``exposition`` writes and merges the text
format, ``publish`` hands a job's section to its exporters (the instances, whose ``GET /redissync/metrics`` serves
it next to their own view of Redis; a textfile outside BunkerWeb). Entry point: :func:`job_ended`, called once at the end of every job run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..state import StateStore
from .exposition import render
from .families import job_families
from .publish import publish
from .record import update

__all__ = ["job_ended"]


def job_ended(job: str, state: Callable[[], StateStore], ok: bool, duration_s: float, api_token: str,
              logger: logging.Logger) -> None:
    """Count the run, render the job's section, publish it. Never fails the job: a figure lost is logged."""
    try:
        store = state()
        figures = update(job, store, ok, duration_s)
        refused = publish(job, render(job_families(job, store, figures)), store, api_token)
    except Exception as error:  # the job's verdict matters more than its figures
        logger.warning(f"{job} could not record its figures ({type(error).__name__})")
        return
    if refused:
        logger.warning(f"{job}: figures not delivered to " + ", ".join(f"{name} ({why})" for name, why in sorted(refused.items())))
