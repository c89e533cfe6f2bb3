"""redissync's page in BunkerWeb's web UI: thin entry points over ``jobs/redissync/ui/``.

BunkerWeb loads this file with ``SourceFileLoader("actions", …)`` and calls ``pre_render(**kwargs)`` on GET
and ``redissync(**kwargs)`` on POST with ``app``, ``db``, ``bw_instances_utils``, ``args`` and ``data``.
BunkerWeb 1.7 passes ``db=None``: the page then reads through the UI's API client (``jobs/redissync/ui/sources.py``).
The logic lives in the plugin's package under ``jobs/``: found next to this file (the plugin folder the
UI extracts to /etc/bunkerweb/plugins/redissync) or at that path when BunkerWeb runs a copy from a
temporary folder. Neither function ever raises.
"""

import logging
import sys
from pathlib import Path

PLUGIN_ID = "redissync"
PACKAGE_MISSING = "The redissync package was not found next to the page; reinstall the plugin (see the web UI's log)."
CANDIDATE_ROOTS = (Path(__file__).resolve().parent.parent, Path("/etc/bunkerweb/plugins", PLUGIN_ID))
LOGGER = logging.getLogger("REDISSYNC-UI")


def _package_ready() -> bool:
    """Put the plugin's ``jobs/`` folder on sys.path (once); False when no copy of the package exists."""
    for root in CANDIDATE_ROOTS:
        jobs = root / "jobs"
        if (jobs / PLUGIN_ID / "ui" / "page.py").is_file():
            if str(jobs) not in sys.path:
                sys.path.insert(0, str(jobs))
            return True
    LOGGER.error(f"redissync UI: no jobs/{PLUGIN_ID} package under " + ", ".join(str(root) for root in CANDIDATE_ROOTS))
    return False


def _instances_utils(kwargs: dict):
    # BunkerWeb 1.6 passes bw_instances_utils; some earlier 1.6 builds named it instances_utils.
    return kwargs.get("bw_instances_utils") or kwargs.get("instances_utils")


def _bunkerweb(kwargs: dict) -> dict:
    """BunkerWeb's ``db`` (1.6) or, when it passes none (1.7), its web UI's API client."""
    from redissync.ui.sources import bunkerweb_api

    db = kwargs.get("db")
    return {"db": db, "api": bunkerweb_api() if db is None else None}


def pre_render(**kwargs) -> dict:
    """The view model of ``template.html`` (exposed to it as ``pre_render.data``)."""
    try:
        if not _package_ready():
            return {"plugin": PLUGIN_ID, "errors": [PACKAGE_MISSING]}
        from redissync.ui.page import safe_gather

        return safe_gather(**_bunkerweb(kwargs), bw_instances_utils=_instances_utils(kwargs), logger=LOGGER)
    except Exception as error:
        LOGGER.error(f"redissync UI: pre_render failed ({type(error).__name__})")
        return {"plugin": PLUGIN_ID, "errors": ["Could not prepare the redissync page; the web UI's log has the details."]}


def redissync(**kwargs):
    """POST ``{"action": "check"}`` (diagnose now) or ``{"action": "reconcile"}`` (one bans pass now)."""
    try:
        if not _package_ready():
            return {"status": "ko", "code": 500, "message": PACKAGE_MISSING}
        from redissync.ui.actions import handle, respond

        return respond(handle(kwargs.get("data"), **_bunkerweb(kwargs), logger=LOGGER), kwargs.get("app"))
    except Exception as error:
        LOGGER.error(f"redissync UI: action failed ({type(error).__name__})")
        return {"status": "ko", "code": 500, "message": "The action failed; the web UI's log has the details."}
