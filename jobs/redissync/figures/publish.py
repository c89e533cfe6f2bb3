"""Hand a job's section to its exporters (:data:`EXPORTERS`): the instances, which serve it at
``GET /redissync/metrics`` (docs/observability.md), and outside BunkerWeb a textfile.

Why push: jobs run in the scheduler, Prometheus scrapes the instances, and the instances never receive our
job cache (BunkerWeb ships it only when a job asks for a reload). So after every run, failed or not, the job
POSTs its section to each instance's API (``POST /redissync/figures/<job>``, whitelisted and token-checked
by BunkerWeb like every API call), where ``redissync.lua`` keeps it in the shared datastore. Redis plays no
part: the figures of a failing run reach the instances exactly when Redis is down.

Outside BunkerWeb (tests, ``make demo``) the section is written next to the job's state as ``<job>.prom``, the
form node_exporter's textfile collector reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..bans.instances import ask_each, instance_source
from ..state import StateStore

TIMEOUT_S = 3.0  # per instance: a section is a few kB, and a job must not wait on a silent instance
FIGURES_URL = "/redissync/figures/"
MAX_SECTION_BYTES = 64 * 1024  # redissync.lua refuses more
STORED = "stored"


def prom_file(job: str) -> str:
    return f"{job}.prom"


def _send(api: Any, job: str, body: bytes) -> str:
    """``STORED`` when the instance took the section, else why not (never the answer's text: it is not ours)."""
    try:
        sent, _, status, _ = api.request("POST", FIGURES_URL + job, data=body, timeout=(TIMEOUT_S, TIMEOUT_S))
    except Exception as error:  # BunkerWeb's API.request decodes the answer itself
        return f"failed ({type(error).__name__})"
    if not sent:
        return "unreachable"
    return STORED if status == 200 else f"answered HTTP {status}"


def to_textfile(job: str, section: str, state: StateStore, api_token: str) -> dict[str, str]:
    """Outside BunkerWeb: ``<job>.prom`` next to the job's state (node_exporter's textfile collector)."""
    if not state.inside_bunkerweb:
        state.write(prom_file(job), section.encode())
    return {}


def to_instances(job: str, section: str, state: StateStore, api_token: str) -> dict[str, str]:
    """Inside BunkerWeb: ``POST`` the section to every instance; the instances that did not take it, with why."""
    source = instance_source(state, api_token)
    if source is None:
        return {}
    try:
        apis = source.apis()
    except Exception as error:
        return {"BunkerWeb's instance list": f"could not be read ({type(error).__name__})"}
    body = section.encode()
    outcomes = ask_each(apis, lambda _, api: _send(api, job, body), 2 * TIMEOUT_S + 1)
    return {name: why or "timed out" for (name, _), why in zip(apis, outcomes, strict=True) if why != STORED}


Exporter = Callable[[str, str, StateStore, str], dict[str, str]]
"""(job, section, state, API token) → where the section was refused, with why. A new way to hand the figures on
(a Pushgateway, another collector) is one more exporter in :data:`EXPORTERS`: the jobs are not edited."""
EXPORTERS: tuple[Exporter, ...] = (to_textfile, to_instances)


def publish(job: str, section: str, state: StateStore, api_token: str = "") -> dict[str, str]:
    """Hand ``section`` to every exporter; returns where it was refused, with why."""
    size = len(section.encode())
    if size > MAX_SECTION_BYTES:
        raise ValueError(f"{job}'s figures are {size} bytes, over the {MAX_SECTION_BYTES} an instance accepts")
    refused: dict[str, str] = {}
    for exporter in EXPORTERS:
        refused.update(exporter(job, section, state, api_token))
    return refused
