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
from collections.abc import Callable, Mapping
from typing import Any

from redis.exceptions import RedisError

from ..cached_files import BANS_SUMMARY_FILE
from ..connection import connect, explain
from ..errors import BadRequest, RedisSyncError, SettingsError
from ..redaction import redact
from ..settings import Settings, load_settings
from ..state import PLUGIN_ROOT, open_state
from .format import text
from .page import GENERIC_ERROR, PLUGIN_ID, configuration

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


def inside_bunkerweb(db: Any, config: Mapping[str, str]) -> bool:
    return db is not None and not config.get("REDISSYNC_STATE_DIR")


def run_check(config: Mapping[str, str], settings: Settings, db: Any, logger: logging.Logger) -> dict[str, Any]:
    """Diagnose now, from where the web UI runs, and return the report (not cached: the page keeps
    showing the scheduler's own diagnosis, which is what the jobs see)."""
    report = _domain("diagnose").diagnose(config)
    return {"status": "ok", "action": "check", "state": report.state, "headline": report.headline, "report": report.to_dict()}


def run_reconcile(config: Mapping[str, str], settings: Settings, db: Any, logger: logging.Logger) -> dict[str, Any]:
    """One bans pass now. The pass needs the bans journal, which lives with the scheduler's job cache:
    inside BunkerWeb the web UI asks the scheduler to run redissync's jobs now (what BunkerWeb's own
    "run jobs" button does) instead of reconciling from a stale copy of the journal, which could revive
    an IP unbanned meanwhile. Elsewhere (tests, demo) the journal is local and the pass runs here."""
    if inside_bunkerweb(db, config):
        error = db.checked_changes(["config"], [PLUGIN_ID], True)
        if error:
            logger.error(f"redissync UI: BunkerWeb's database refused to schedule the jobs ({text(error, 200)})")
            return ko(503, "BunkerWeb's database refused to schedule the redissync jobs; the web UI's log has the details")
        return {"status": "ok", "action": "reconcile", "queued": True,
                "summary": "the scheduler runs redissync-bans (and redissync's other jobs) now, in the background"}
    store = open_state(BANS_JOB, config)
    client = connect(settings)
    try:
        summary = _domain("bans").one_pass(settings, client, store, logger)
    finally:
        client.close()
    return {"status": "ok", "action": "reconcile", "queued": False, "summary": text(summary, 500),
            "bans": store.read_json(BANS_SUMMARY_FILE)}


RUNNERS: dict[str, Callable[[Mapping[str, str], Settings, Any, logging.Logger], dict[str, Any]]] = {
    "check": run_check, "reconcile": run_reconcile}


def handle(data: Any, db: Any = None, env: Mapping[str, str] | None = None, logger: logging.Logger | None = None) -> dict[str, Any]:
    """Validate, run, and answer with a JSON-ready dict (``status`` ok or ko with an HTTP ``code``)."""
    logger = logger or logging.getLogger("REDISSYNC-UI")
    try:
        action = validate(data)
    except BadRequest as error:
        return ko(400, str(error))
    settings: Settings | None = None
    try:
        config = configuration(db, env)
        settings = load_settings(config)
        if not settings.enabled:
            return ko(409, "USE_REDIS is not yes: there is nothing to check or reconcile")
        return RUNNERS[action](config, settings, db, logger)
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
