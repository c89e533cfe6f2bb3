"""Where the page reads BunkerWeb's settings and the jobs' cached reports, for each BunkerWeb the UI runs in.

- BunkerWeb 1.6: the UI hands ``actions.py`` a ``db``: settings from ``db.get_config``, reports from
  ``db.get_job_cache_file(job, file)`` (where ``Job.cache_file`` upserted them).
- BunkerWeb 1.7: ``db`` is None (``src/ui/app/dependencies.py`` l.19-21, ``routes/plugins.py`` l.327); the UI
  reads everything through its API client to bw-api, ``app.dependencies.API_CLIENT`` (dependencies.py
  l.25-28; BunkerWeb's own letsencrypt ``ui/hooks.py`` l.29 imports it the same way): settings from
  ``get_global_settings(full=True)`` (``api_client.py`` l.20-32 → ``routers/global_settings.py`` l.14-48; without
  ``full`` bw-api returns only non-default settings), reports from ``get_cache_file("global", plugin, job, file)``
  (``api_client.py`` l.129-134 → ``routers/cache.py`` l.78-129: ``{"file": {"data": <text>, "printable": …}}``,
  a missing file is a 404, ``ApiClientError``).
- Outside BunkerWeb (tests, the demo): the environment and ``REDISSYNC_STATE_DIR``, like the jobs.

When BunkerWeb's database or API does not answer, reading raises :class:`BunkerWebUnavailable`: the page then says so,
which is not the same as "Redis is off" (what an empty configuration would otherwise read as).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..cached_files import REPORT_JOBS
from ..errors import BunkerWebUnavailable
from ..state import StateStore, default_state_dir

PLUGIN_ID = "redissync"
DATABASE = "BunkerWeb's database"
API = "BunkerWeb's API"


API_REMEDY = "Check that bw-api is running and that the web UI's API_URL and API_TOKEN point to it"
DATABASE_REMEDY = "Check the database the web UI uses (DATABASE_URI) and its log"


def bunkerweb_api() -> Any:
    """BunkerWeb 1.7's API client in its web UI process, or None (1.6, tests, the demo)."""
    try:
        from app.dependencies import API_CLIENT  # type: ignore[import-not-found]  # BunkerWeb 1.7's UI
    except Exception:  # not inside BunkerWeb 1.7's web UI (1.6's dependencies.py has no API_CLIENT)
        return None
    return API_CLIENT


def _api_failure(error: Exception) -> BunkerWebUnavailable:
    """BunkerWeb's ``BaseApiClient._request`` (src/common/utils/base_api_client.py l.69-106, 1.7): a 4xx is
    ``ApiClientError(message, status_code)``; a 5xx is ``ApiUnavailableError("API returned <code>")`` and a
    network error ``ApiUnavailableError("Cannot reach API at …")``. Only the kind is shown, never the text."""
    status = getattr(error, "status_code", None)
    if status in (401, 403):
        return BunkerWebUnavailable(API, f"refused the web UI's API token (HTTP {status})", API_REMEDY)
    if isinstance(status, int):
        return BunkerWebUnavailable(API, f"answered HTTP {status}", API_REMEDY)
    returned = re.fullmatch(r"API returned (\d{3})", str(getattr(error, "message", "")))
    if returned:
        return BunkerWebUnavailable(API, f"answered HTTP {returned.group(1)}", API_REMEDY)
    return BunkerWebUnavailable(API, "could not be reached (refused or timed out)", API_REMEDY)


def ask_api(call: Callable[[], Any], missing_ok: bool = False) -> Any:
    """One call through the API client; a 404 is None when ``missing_ok``, every other failure :class:`BunkerWebUnavailable`."""
    try:
        return call()
    except Exception as error:
        if missing_ok and getattr(error, "status_code", None) == 404:
            return None
        raise _api_failure(error) from error


def ask_database(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as error:
        raise BunkerWebUnavailable(DATABASE, f"failed ({type(error).__name__})", DATABASE_REMEDY) from error


def configuration(db: Any = None, env: Mapping[str, str] | None = None, api: Any = None) -> dict[str, str]:
    """The process environment with BunkerWeb's global settings over it: the UI's own environment does not carry
    them, and only BunkerWeb's copy matches what the jobs use."""
    merged = dict(os.environ if env is None else env)
    config: Mapping[str, Any] | None = None
    getter = getattr(db, "get_config", None)
    if callable(getter):
        def read() -> Any:
            try:
                return getter(global_only=True, methods=False)
            except TypeError:  # an older Database without these keywords
                return getter()
        config = ask_database(read)
    elif db is None and api is not None:
        config = ask_api(lambda: api.get_global_settings(full=True, methods=False))
    merged.update({key: str(value) for key, value in (config or {}).items() if isinstance(key, str) and value is not None})
    return merged


def decode_json(data: Any) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except (TypeError, ValueError, UnicodeDecodeError):
        return None


class DatabaseReports:
    """BunkerWeb 1.6's job cache, through the UI's ``db``."""

    label = DATABASE

    def __init__(self, db: Any):
        self._db = db

    def read(self, name: str) -> Any:
        return decode_json(ask_database(lambda: self._db.get_job_cache_file(REPORT_JOBS[name], name)))


class ApiReports:
    """BunkerWeb 1.7's job cache, through bw-api. After one failure it stops asking: each call can wait for
    the client's timeouts (``ApiClient`` l.8: 3 s connect, 10 s read, one retry)."""

    label = API

    def __init__(self, api: Any):
        self._api = api
        self.failure: BunkerWebUnavailable | None = None

    def read(self, name: str) -> Any:
        if self.failure is not None:
            raise self.failure
        try:
            answer = ask_api(lambda: self._api.get_cache_file("global", PLUGIN_ID, REPORT_JOBS[name], name), missing_ok=True)
        except BunkerWebUnavailable as failure:
            self.failure = failure
            raise
        entry = answer.get("file") if isinstance(answer, dict) else None
        return decode_json(entry.get("data")) if isinstance(entry, dict) and entry.get("printable") else None


class FileReports:
    """The state directory the jobs write outside BunkerWeb."""

    label = "the state directory"

    def __init__(self, store: StateStore):
        self.store = store

    def read(self, name: str) -> Any:
        return self.store.read_json(name)


Reports = DatabaseReports | ApiReports | FileReports


def report_source(db: Any, env: Mapping[str, str], api: Any = None) -> Reports:
    if not env.get("REDISSYNC_STATE_DIR"):
        if db is not None and hasattr(db, "get_job_cache_file"):
            return DatabaseReports(db)
        if db is None and api is not None:
            return ApiReports(api)
    return FileReports(StateStore(default_state_dir(env)))
