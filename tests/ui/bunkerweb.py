"""What BunkerWeb's web UI hands ``ui/actions.py``, for 1.6 and for 1.7, filled from the real jobs' cached files.

BunkerWeb 1.6 passes ``db``, a ``UIDatabase``: :class:`StandInUIDatabase` answers its three calls the page makes.
BunkerWeb 1.7 (branch ``1.7``, commit 3f92ad93b of 2026-07-23) passes ``db=None`` (``src/ui/app/routes/plugins.py``
l.327, ``src/ui/app/dependencies.py`` l.19-21) and keeps its API client in ``app.dependencies.API_CLIENT``
(dependencies.py l.25-28). :class:`StandInApiClient` has the methods and signatures of
``src/ui/app/api_client.py`` the page uses, maps HTTP answers to exceptions the way ``BaseApiClient._request``
does (``src/common/utils/base_api_client.py`` l.69-106), and its requests are answered by :class:`StandInBwApi`,
which follows bw-api's routers (``src/api/app/routers/``). Both stand for BunkerWeb, not for Redis: every report
they serve was written by the real jobs against a real Redis.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from redissync.cached_files import REPORT_JOBS
from redissync.settings import core_redis_plugin, own_setting_definitions

# -- BunkerWeb 1.6 ----------------------------------------------------------------------------------


class StandInUIDatabase:
    """BunkerWeb 1.6's ``UIDatabase`` as the page uses it: the job cache (filled from the jobs' real files), the
    global config, ``checked_changes`` (what its "run jobs" button calls) and the job runs (never to be asked)."""

    def __init__(self, state_dir: Path, config: dict[str, str], fail: str = ""):
        """``fail``: "config" (every call fails) or "cache" (the job cache fails, the config reads)."""
        self.state_dir, self.config, self.fail = state_dir, config, fail
        self.asked: list[tuple[str, str]] = []
        self.changes: list[tuple] = []
        self.runs_asked = False

    def get_job_cache_file(self, job_name: str, file_name: str, *, with_info: bool = False, with_data: bool = True):
        if self.fail:
            raise RuntimeError(f"database down, dsn postgresql://bw:{self.config.get('REDIS_PASSWORD')}@db")
        self.asked.append((job_name, file_name))
        path = self.state_dir / file_name
        if not path.is_file() or REPORT_JOBS.get(file_name) != job_name:
            return None
        return {"last_update": path.stat().st_mtime, "checksum": "x", "data": path.read_bytes()} if with_info else path.read_bytes()

    def get_config(self, global_only: bool = False, methods: bool = False) -> dict[str, str]:
        if self.fail == "config":
            raise RuntimeError("database down")
        return dict(self.config)

    def checked_changes(self, changes, plugins_changes, value):
        self.changes.append((changes, plugins_changes, value))
        return ""

    def get_jobs(self) -> dict:
        """Every run a success, as BunkerWeb records a batch's failures after the first one."""
        self.runs_asked = True
        run = {"start_date": "2026-11-26T06:00:00+00:00", "end_date": "2026-11-26T06:00:01+00:00", "success": True}
        return {job: {"plugin_id": "redissync", "every": "minute", "history": [run]} for job in set(REPORT_JOBS.values())}


# -- BunkerWeb 1.7 ----------------------------------------------------------------------------------


class ApiClientError(Exception):
    """base_api_client.py l.11-17: a 4xx answer."""

    def __init__(self, message, status_code=None):
        self.message = message
        self.status_code = status_code
        super().__init__(message)


class ApiUnavailableError(Exception):
    """base_api_client.py l.20-25: unreachable, or a 5xx answer."""

    def __init__(self, message="API unavailable"):
        self.message = message
        super().__init__(message)


@dataclass
class StandInBwApi:
    """bw-api over BunkerWeb's database: the settings a user set (``stored``), the plugins' defaults, and the job
    cache (the jobs' real files in ``cache_dir``). ``down`` makes it unreachable; ``status`` answers every
    request with that HTTP status; ``fail_paths`` only the requests whose path starts with one of them."""

    stored: dict[str, str]
    defaults: dict[str, str]
    cache_dir: Path
    readonly: bool = False
    down: bool = False
    status: int | None = None
    fail_paths: tuple[str, ...] = ()
    requests: list[tuple[str, str, dict, Any]] = field(default_factory=list)

    def answer(self, method: str, path: str, params: Mapping[str, Any], body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, dict(params), body))
        if self.status is not None or path.startswith(self.fail_paths or ("\0",)):
            return self.status or 500, {"status": "error", "message": "Internal Server Error"}
        routes: dict[tuple[str, str], Callable[..., tuple[int, Any]]] = {
            ("GET", "/global_settings"): self._global_settings, ("POST", "/jobs/run"): self._run_jobs,
            ("GET", "/system/readonly"): self._readonly, ("GET", "/instances"): self._instances}
        route = self._cache_file if method == "GET" and path.startswith("/cache/") else routes.get((method, path))
        if route is None:
            return 404, {"detail": "Not Found"}
        return route(path=path, params=params, body=body)

    def _readonly(self, **_: Any) -> tuple[int, Any]:
        """routers/system.py l.13-17 (what ``BaseApiClient.readonly`` reads, l.155)."""
        return 200, {"status": "success", "readonly": self.readonly}

    def _instances(self, **_: Any) -> tuple[int, Any]:
        """routers/instances.py l.128-136 (the instances themselves are the 1.6 stand-in's, see InstancesUtils17)."""
        return 200, {"status": "success", "instances": []}

    def _global_settings(self, params: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        """routers/global_settings.py l.14-48: ``full`` → ``db.get_config`` (defaults included), otherwise
        ``db.get_non_default_settings``: only the settings stored in the database, and a value equal to its
        default is never stored (src/common/db/db_methods/config_save.py l.1177-1179)."""
        settings = {**self.defaults, **self.stored} if params.get("full") == "true" else dict(self.stored)
        return 200, {"status": "success", "settings": settings}

    def _cache_file(self, path: str, params: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        """routers/cache.py l.78-129: ``db.get_job_cache_file(job, file, service_id, plugin_id, with_info=True)``;
        404 "Cache file not found"; the data as text when printable; ``last_update`` ISO 8601 with its offset."""
        service, plugin, job, name = path.removeprefix("/cache/").split("/")
        file = self.cache_dir / name
        if service != "global" or plugin != "redissync" or REPORT_JOBS.get(name) != job or not file.is_file():
            return 404, {"status": "error", "message": "Cache file not found"}
        data = file.read_text(encoding="utf-8")
        return 200, {"status": "success", "file": {
            "plugin": plugin, "job_name": job, "service": service, "file_name": name,
            "last_update": datetime.fromtimestamp(file.stat().st_mtime).astimezone().isoformat(),
            "checksum": "x", "data": data, "printable": True}}

    def _run_jobs(self, body: Any, **_: Any) -> tuple[int, Any]:
        """routers/jobs.py l.22-35 with schemas.py ``RunJobsRequest`` l.453-467 (``jobs``: ``[{plugin, name?}]``)."""
        if not isinstance(body, dict) or not body.get("jobs") or not all(job.get("plugin") for job in body["jobs"]):
            return 422, {"detail": "invalid RunJobsRequest"}
        return 202, {"status": "success", "message": "Jobs scheduled"}


class StandInApiClient:
    """``app.api_client.ApiClient`` (src/ui/app/api_client.py, 1.7) for the calls the page and its actions make."""

    def __init__(self, api: StandInBwApi, base_url: str = "http://bw-api:5000"):
        self.api, self.base_url = api, base_url

    def _request(self, method: str, path: str, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        """BaseApiClient._request l.69-106: network error or ≥ 500 → ApiUnavailableError, ≥ 400 → ApiClientError."""
        if self.api.down:
            raise ApiUnavailableError(f"Cannot reach API at {self.base_url}: HTTPConnectionPool(host='bw-api', port=5000): "
                                      "Max retries exceeded (Caused by NewConnectionError: Connection refused)")
        status, body = self.api.answer(method, path, params or {}, json)
        if status >= 500:
            raise ApiUnavailableError(f"API returned {status}")
        if status >= 400:
            raise ApiClientError(body.get("message", body.get("msg", str(body))), status_code=status)
        return body

    def get_global_settings(self, full=False, methods=False, with_drafts=False, filtered_settings=None, global_only=True):
        """api_client.py l.20-32."""
        params = {}
        if full:
            params["full"] = "true"
        if methods:
            params["methods"] = "true"
        if with_drafts:
            params["with_drafts"] = "true"
        if filtered_settings:
            params["filtered_settings"] = list(filtered_settings)
        if not global_only:
            params["global_only"] = "false"
        return self._request("GET", "/global_settings", params=params).get("settings", {})

    def get_cache_file(self, service, plugin, job, filename, download=False):
        """api_client.py l.129-134 (``download=True`` returns the raw response; the page does not use it)."""
        if download:
            raise NotImplementedError("the page reads the printable form")
        return self._request("GET", f"/cache/{service or 'global'}/{plugin}/{job}/{filename}", params={})

    def run_jobs(self, jobs: list):
        """api_client.py l.162-163."""
        return self._request("POST", "/jobs/run", json={"jobs": jobs})

    def get_instances(self):
        """api_client.py l.75-76."""
        return self._request("GET", "/instances").get("instances", [])

    @property
    def readonly(self) -> bool:
        """base_api_client.py l.147-161 (without its 5 s cache): an API error reads as read-only."""
        try:
            return bool(self._request("GET", "/system/readonly").get("readonly", False))
        except (ApiClientError, ApiUnavailableError):
            return True


class InstancesUtils17:
    """1.7's ``InstancesUtils(api_client=API_CLIENT)``: ``get_ping`` and ``get_data`` list the instances through
    the API first (src/ui/app/models/instance.py l.1541, l.1569 → ``get_instances`` l.470-471), then ask each
    one; here the instances' answers come from the 1.6 stand-in (real Redis servers behind it)."""

    def __init__(self, client: StandInApiClient, instances: Any):
        self.client, self.instances = client, instances

    def get_ping(self, plugin_id: str):
        self.client.get_instances()
        return self.instances.get_ping(plugin_id)

    def get_data(self, endpoint: str):
        self.client.get_instances()
        return self.instances.get_data(endpoint)


def plugin_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """Every setting's default as BunkerWeb's database holds them: core redis plugin.json and ours."""
    core = core_redis_plugin(env) or {"settings": {}}
    return {name: str(d["default"]) for name, d in {**core["settings"], **own_setting_definitions()}.items()}


def bw_api_for(built_env: Mapping[str, str], cache_dir: Path) -> StandInBwApi:
    """bw-api for a test state: the user's settings are the state's REDIS_*/USE_* values that differ from their
    defaults; the cache holds the files the real jobs wrote."""
    defaults = plugin_defaults(built_env)
    stored = {name: value for name, value in built_env.items()
              if name.startswith(("REDIS_", "USE_")) and defaults.get(name) != value}
    return StandInBwApi(stored=stored, defaults=defaults, cache_dir=cache_dir)


def install_ui_17(monkeypatch, client: StandInApiClient) -> None:
    """The ``app`` package of 1.7's web UI process, as far as plugins import it: ``app.dependencies.API_CLIENT``."""
    app = types.ModuleType("app")
    dependencies = types.ModuleType("app.dependencies")
    dependencies.API_CLIENT = client
    app.dependencies = dependencies
    monkeypatch.setitem(sys.modules, "app", app)
    monkeypatch.setitem(sys.modules, "app.dependencies", dependencies)


def cache_requests(api: StandInBwApi) -> set[str]:
    return {path for method, path, _, _ in api.requests if method == "GET" and path.startswith("/cache/")}
