"""The UI page's POST action: ``{"action": "check"}`` runs a diagnosis now, ``{"action": "reconcile"}`` one
bans pass now. BunkerWeb handles admin rights and CSRF; this module validates ``data`` strictly.

BunkerWeb wraps a returned dict as HTTP 200 ``{"message": "ok", "data": …}`` and passes a Flask
``Response`` through untouched (docs/bunkerweb-data.md §ui), so an error is returned as a real Response with its
status code (built with ``app.response_class``, no Flask import) and the same JSON body
``{"status": "ko", "code": …, "message": …}``; without an ``app`` (tests, scripts) the dict itself.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from redis.exceptions import RedisError

from ..cached_files import BANS_SUMMARY_FILE
from ..connection import connect, explain
from ..errors import BadRequest, BunkerWebUnavailable, RedisSyncError, SettingsError
from ..redaction import redact
from ..settings import Settings, load_settings
from ..state import PLUGIN_ROOT, open_state
from .format import text
from .page import GENERIC_ERROR
from .sources import PLUGIN_ID, ask_api, ask_database, configuration

ACTIONS = ("check", "reconcile")
BANS_JOB = PLUGIN_ROOT / "jobs" / "redissync-bans.py"
USAGE = 'send a JSON object like {"action": "check"} or {"action": "reconcile"}'


def validate(data: Any) -> str:
    """The requested action, or :class:`BadRequest` naming exactly what is wrong with ``data``."""
    if not isinstance(data, Mapping):
        raise BadRequest(f"the request body must be a JSON object: {USAGE}")
    unknown = sorted(str(key)[:40] for key in data if key != "action")
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(repr(k) for k in unknown[:5])}: only 'action' is accepted; {USAGE}")
    action = data.get("action")
    if not isinstance(action, str) or not action:
        raise BadRequest(f"'action' is missing or not a string: {USAGE}")
    if action not in ACTIONS:
        raise BadRequest(f"unknown action {text(action, 40)!r}: use 'check' or 'reconcile'")
    return action


def ko(code: int, message: str) -> dict[str, Any]:
    return {"status": "ko", "code": code, "message": message}


def respond(body: dict[str, Any], app: Any = None) -> Any:
    """A success dict as is; an error as a Response with its status when BunkerWeb gave us the Flask app."""
    code = int(body.get("code", 200))
    response_class = getattr(app, "response_class", None)
    if code == 200 or response_class is None:
        return body
    return response_class(json.dumps(body), status=code, mimetype="application/json")


def _domain(name: str) -> Any:
    """A domain module of the package, imported when the action runs (the bans/diagnosis modules are
    heavier than the page and a page view must not depend on them)."""
    return importlib.import_module(f"..{name}", __package__)


def run_check(config: Mapping[str, str]) -> dict[str, Any]:
    """Diagnose now, from the web UI's own process, and return the report (not cached: the page keeps showing
    the redissync-check job's diagnosis, which is what the jobs see)."""
    report = _domain("diagnose").diagnose(config)
    return {"status": "ok", "action": "check", "ran": "ui", "state": report.state, "headline": report.headline,
            "summary": f"Ran in the web UI's process (its own view of Redis): {text(report.headline, 300)}",
            "report": report.to_dict()}


def run_reconcile(config: Mapping[str, str], settings: Settings, logger: logging.Logger, db: Any = None,
                  api: Any = None) -> dict[str, Any]:
    """One bans pass now. The pass needs the bans journal, which lives with the jobs' cache: inside BunkerWeb
    the web UI asks the scheduler to run redissync's jobs now (what BunkerWeb's own "run jobs" button does)
    instead of reconciling from a stale copy of the journal, which could revive an IP unbanned meanwhile.
    Elsewhere (tests, demo) the journal is local and the pass runs here."""
    if not config.get("REDISSYNC_STATE_DIR") and db is not None:  # BunkerWeb 1.6: the UI's database
        error = ask_database(lambda: db.checked_changes(["config"], [PLUGIN_ID], True))
        if error:
            logger.error(f"redissync UI: BunkerWeb's database refused to schedule the jobs ({text(error, 200)})")
            return ko(503, "BunkerWeb's database refused to schedule the redissync jobs; the web UI's log has the details")
        return asked_scheduler("the scheduler runs them in the background")
    if not config.get("REDISSYNC_STATE_DIR") and api is not None:
        # BunkerWeb 1.7's Jobs page: API_CLIENT.readonly, then API_CLIENT.run_jobs (src/ui/app/routes/jobs.py
        # l.29-47) → POST /jobs/run, 202 "Jobs scheduled" (src/api/app/routers/jobs.py l.22-35).
        if ask_api(lambda: api.readonly):
            return ko(409, "BunkerWeb's API reports its database as read-only: the scheduler cannot be asked to run "
                           "jobs now (BunkerWeb's own Jobs page refuses too)")
        ask_api(lambda: api.run_jobs([{"plugin": PLUGIN_ID, "name": BANS_JOB.stem}]))
        return asked_scheduler("through BunkerWeb's API; a BunkerWeb worker runs them in the background")
    store = open_state(BANS_JOB, config)
    client = connect(settings)
    try:
        summary = _domain("bans").one_pass(settings, client, store, logger)
    finally:
        client.close()
    return {"status": "ok", "action": "reconcile", "ran": "ui", "summary": f"Ran in the web UI's process: {text(summary, 500)}",
            "bans": store.read_json(BANS_SUMMARY_FILE)}


def asked_scheduler(how: str) -> dict[str, Any]:
    return {"status": "ok", "action": "reconcile", "ran": "scheduler",
            "summary": f"Asked BunkerWeb's scheduler to run redissync's jobs now, redissync-bans among them ({how}); "
                       "the page shows the pass once it has run."}


def handle(data: Any, db: Any = None, env: Mapping[str, str] | None = None, logger: logging.Logger | None = None,
           api: Any = None) -> dict[str, Any]:
    """Validate, run, and answer with a JSON-ready dict (``status`` ok or ko with an HTTP ``code``); ``ran`` says
    where the action ran: ``ui`` (this process) or ``scheduler`` (asked to run the jobs)."""
    logger = logger or logging.getLogger("REDISSYNC-UI")
    try:
        action = validate(data)
    except BadRequest as error:
        return ko(400, str(error))
    settings: Settings | None = None
    try:
        config = configuration(db, env, api)
        settings = load_settings(config)
        if not settings.enabled:
            return ko(409, "USE_REDIS is not yes: there is nothing to check or reconcile")
        return run_check(config) if action == "check" else run_reconcile(config, settings, logger, db, api)
    except BunkerWebUnavailable as unavailable:
        logger.error(f"redissync UI: action {action}: {unavailable.title} ({type(unavailable.__cause__).__name__})")
        return ko(503, f"{unavailable.title}: it {unavailable.reason}, so nothing was run. {unavailable.remedy}.")
    except SettingsError as error:
        return ko(422, "invalid Redis settings: " + "; ".join(str(problem) for problem in error.problems[:5]))
    except RedisSyncError as error:
        return ko(503, str(error))
    except RedisError as error:
        return ko(503, explain(error, settings) if settings else GENERIC_ERROR)
    except Exception as error:
        secrets = (settings.password, settings.sentinel_password) if settings else ()
        logger.error(f"redissync UI: action {action} failed ({redact(f'{type(error).__name__}: {error}', secrets)})")
        return ko(500, f"the {action} action failed unexpectedly; the web UI's log has the details")
