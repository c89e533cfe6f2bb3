"""The page and its buttons inside BunkerWeb 1.6 (a ``db``) and 1.7 (``db=None``, the UI's API client to bw-api).

``ui/actions.py`` is loaded and called as BunkerWeb's ``run_action`` does (src/ui/app/routes/plugins.py), with
the stand-ins of tests/ui/bunkerweb.py serving the files the real jobs cached against a real Redis. Each test runs
for both releases: what 1.7 changes is where the page reads, never what it shows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from redissync.ui.page import JOBS, REPORTS, gather
from redissync.ui.sources import API, DATABASE, PLUGIN_ID
from tests.ui.bunkerweb import (
    InstancesUtils17,
    StandInApiClient,
    StandInBwApi,
    StandInUIDatabase,
    bw_api_for,
    cache_requests,
    install_ui_17,
)
from tests.ui.test_pre_render import assert_no_secret, load_actions

NOW = 1_800_000_000.0
SECTIONS = ("steps", "instances", "keyspace", "trends", "bans", "sessions", "jobs")


@dataclass
class BunkerWebUI:
    """One BunkerWeb web UI process around ``ui/actions.py``: 1.6 hands it ``db``, 1.7 ``db=None``."""

    version: str
    built: Any
    db: StandInUIDatabase | None
    api: StandInBwApi | None
    instances: Any

    @property
    def source(self) -> str:
        return DATABASE if self.version == "1.6" else API

    def kwargs(self, data: Any = None) -> dict[str, Any]:
        return {"app": None, "db": self.db, "bw_instances_utils": self.instances, "args": {}, "data": data or {}}

    def pre_render(self) -> dict:
        return load_actions().pre_render(**self.kwargs())

    def post(self, action: str) -> dict:
        return load_actions().redissync(**self.kwargs({"action": action}))

    def gather(self) -> dict:
        client = StandInApiClient(self.api) if self.api else None
        return gather(db=self.db, api=client, bw_instances_utils=self.instances, now=NOW,
                      env={"REDISSYNC_BW_CORE_DIR": self.built.env["REDISSYNC_BW_CORE_DIR"]})

    def fail(self, how: str = "down") -> None:
        """BunkerWeb's side stops answering: 1.6's database, 1.7's bw-api (``down``, or an HTTP status)."""
        if self.db is not None:
            self.db.fail = "config"
        elif how == "down":
            self.api.down = True
        else:
            self.api.status = int(how)


def open_ui(version: str, built: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BunkerWebUI:
    """The UI process's own environment carries no Redis setting (BunkerWeb's database does) and no state dir."""
    for name in [name for name in os.environ if name.startswith(("REDIS_", "USE_REDIS", "REDISSYNC_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REDISSYNC_BW_CORE_DIR", built.env["REDISSYNC_BW_CORE_DIR"])
    cache = tmp_path / f"job-cache-{version}"
    shutil.copytree(built.env["REDISSYNC_STATE_DIR"], cache)
    api = bw_api_for(built.env, cache)
    if version == "1.6":
        return BunkerWebUI(version, built, StandInUIDatabase(cache, {**api.defaults, **api.stored}), None, built.instances)
    client = StandInApiClient(api)
    install_ui_17(monkeypatch, client)
    return BunkerWebUI(version, built, None, api, InstancesUtils17(client, built.instances))


VERSIONS = pytest.mark.parametrize("version", ["1.6", "1.7"])


@VERSIONS
def test_healthy(version, healthy_state, tmp_path, monkeypatch, captured_logs):
    ui = open_ui(version, healthy_state, tmp_path, monkeypatch)
    view = ui.pre_render()
    assert view["errors"] == []
    assert view["source"] == ui.source
    assert view["health"]["state"] == "healthy", view["health"]
    assert view["health"]["sentence"].startswith(f"Redis answers at redis://127.0.0.1:{healthy_state.env['REDIS_PORT']}/0")
    rows = dict(view["connection"]["rows"])
    assert rows["Authentication"] == "password set"
    assert rows["Timeout"] == "2000 ms"  # BunkerWeb's value, in BunkerWeb's unit
    assert view["instances"]["reaching"] == "2/2"
    assert view["keyspace"]["state"] == "ok"
    assert view["bans"]["recent"]
    assert view["sessions"]["state"] == "ok"
    assert [row["ok"] for row in view["jobs"]["rows"]] == [True] * len(JOBS)
    if version == "1.7":
        settings_reads = [params for method, path, params, _ in ui.api.requests if path == "/global_settings"]
        assert settings_reads == [{"full": "true"}]  # without full, bw-api leaves out every default value
        assert cache_requests(ui.api) == {f"/cache/global/{PLUGIN_ID}/{job}/{name}" for name, job in REPORTS.items()}
    else:
        assert set(ui.db.asked) == {(job, name) for name, job in REPORTS.items()}
    assert_no_secret(view, healthy_state.secrets)
    assert not any(secret in captured_logs.text for secret in healthy_state.secrets)


def test_the_same_page_whichever_way_bunkerweb_hands_the_data(healthy_state, down_state, tmp_path, monkeypatch):
    """1.6's database, 1.7's API and the state directory give the same view model, to the last figure (the
    instances' live answers aside: they are asked each time)."""
    for built in (healthy_state, down_state):
        files = gather(env=built.env, bw_instances_utils=built.instances, now=NOW)
        assert files["source"] == "the state directory"
        for version in ("1.6", "1.7"):
            view = open_ui(version, built, tmp_path / built.name, monkeypatch).gather()
            assert view["instances"]["state"] == files["instances"]["state"]
            same = {**view, "source": files["source"], "instances": files["instances"]}
            assert same == files, (built.name, version)


@VERSIONS
def test_outage(version, down_state, tmp_path, monkeypatch):
    ui = open_ui(version, down_state, tmp_path, monkeypatch)
    view = ui.pre_render()
    health = view["health"]
    assert health["state"] == "failed"
    assert health["title"].startswith("Redis unreachable since ")
    assert "REDIS_HOST/REDIS_PORT" in health["sentence"]
    assert view["instances"]["reaching"] == "0/2"
    for section in ("keyspace", "trends", "bans", "sessions"):
        assert re.fullmatch(r"stale: from \d+ (s|min) ago, before the failure", view[section]["stale"]), section
    jobs = {row["job"]: row["ok"] for row in view["jobs"]["rows"]}
    assert jobs["redissync-check"] is False
    assert jobs["redissync-bans"] is False
    assert_no_secret(view, down_state.secrets)


@pytest.mark.parametrize(("version", "how", "reason"), [
    ("1.6", "config", "failed (RuntimeError)"),
    ("1.7", "down", "could not be reached (refused or timed out)"),
    ("1.7", "503", "answered HTTP 503"),
    ("1.7", "403", "refused the web UI's API token (HTTP 403)"),
])
def test_bunkerweb_did_not_answer(version, how, reason, healthy_state, tmp_path, monkeypatch, captured_logs):
    """Not "Redis is off" (what an empty configuration reads as): the page says who did not answer."""
    ui = open_ui(version, healthy_state, tmp_path, monkeypatch)
    ui.fail(how)
    instance_calls = len(healthy_state.instances.calls)
    view = ui.pre_render()
    health = view["health"]
    assert health["state"] == "unavailable"
    assert health["title"] == f"{ui.source} did not answer"
    assert f"and it {reason}." in health["sentence"]
    assert "unknown from here, not off" in health["sentence"]
    page = json.dumps(view)
    assert "Redis is off" not in page
    assert "USE_REDIS" not in page
    assert "No data yet" not in page
    for section in (*SECTIONS, "connection"):
        assert view[section] == {"state": "unavailable", "message": f"Not available: {ui.source} did not answer."}, section
    assert len(healthy_state.instances.calls) == instance_calls  # listed through the same database or API
    if version == "1.7" and how != "down":
        assert [path for _, path, _, _ in ui.api.requests] == ["/global_settings"]  # one failure, no more waiting
    assert captured_logs.text.count(f"redissync UI: {ui.source} did not answer") == 1
    assert_no_secret(view, healthy_state.secrets)


@VERSIONS
def test_the_job_cache_did_not_answer(version, healthy_state, tmp_path, monkeypatch, captured_logs):
    """The settings read, the job cache fails: the connection card stays, the rest says who did not answer."""
    ui = open_ui(version, healthy_state, tmp_path, monkeypatch)
    if ui.db is not None:
        ui.db.fail = "cache"  # its error text carries the Redis password: masked in the log
    else:
        ui.api.fail_paths = ("/cache/",)
    view = ui.pre_render()
    assert view["health"]["state"] == "unavailable"
    assert dict(view["connection"]["rows"])["Authentication"] == "password set"
    assert view["bans"]["message"] == f"Not available: {ui.source} did not answer."
    if version == "1.7":
        assert len(cache_requests(ui.api)) == 1  # the first failure stops the reads (each may wait 2 × 13 s)
        assert f"{API} did not answer (ApiUnavailableError: API returned 500)" in captured_logs.text
    else:
        assert f"{DATABASE} did not answer (RuntimeError: database down" in captured_logs.text
    assert_no_secret(view, healthy_state.secrets)
    assert not any(secret in captured_logs.text for secret in healthy_state.secrets)


@VERSIONS
def test_check_now_runs_in_the_ui_process(version, healthy_state, down_state, tmp_path, monkeypatch):
    for built, state in ((healthy_state, "healthy"), (down_state, "failed")):
        ui = open_ui(version, built, tmp_path / built.name, monkeypatch)
        answer = ui.post("check")
        assert answer["status"] == "ok", answer
        assert answer["ran"] == "ui"
        assert answer["state"] == state  # the settings came from BunkerWeb: the diagnosis reached the real server
        assert answer["summary"].startswith("Ran in the web UI's process (its own view of Redis): ")
        assert_no_secret(answer, built.secrets)


@VERSIONS
def test_reconcile_now_asks_the_scheduler(version, healthy_state, tmp_path, monkeypatch):
    """The journal lives with the jobs' cache: the UI asks BunkerWeb to run the jobs, as its own Jobs page does."""
    ui = open_ui(version, healthy_state, tmp_path, monkeypatch)
    answer = ui.post("reconcile")
    assert answer["status"] == "ok", answer
    assert answer["ran"] == "scheduler"
    assert answer["summary"].startswith("Asked BunkerWeb's scheduler to run redissync's jobs now, redissync-bans among them")
    if version == "1.6":
        assert ui.db.changes == [(["config"], [PLUGIN_ID], True)]
    else:
        runs = [body for method, path, _, body in ui.api.requests if (method, path) == ("POST", "/jobs/run")]
        assert runs == [{"jobs": [{"plugin": PLUGIN_ID, "name": "redissync-bans"}]}]
        assert "worker" in answer["summary"]


def test_reconcile_on_a_read_only_database(healthy_state, tmp_path, monkeypatch):
    ui = open_ui("1.7", healthy_state, tmp_path, monkeypatch)
    ui.api.readonly = True
    answer = ui.post("reconcile")
    assert answer["code"] == 409
    assert "read-only" in answer["message"]
    assert not [path for _, path, _, _ in ui.api.requests if path == "/jobs/run"]


@pytest.mark.parametrize(("version", "how"), [("1.6", "config"), ("1.7", "down"), ("1.7", "500")])
@pytest.mark.parametrize("action", ["check", "reconcile"])
def test_actions_when_bunkerweb_did_not_answer(version, how, action, healthy_state, tmp_path, monkeypatch):
    ui = open_ui(version, healthy_state, tmp_path, monkeypatch)
    ui.fail(how)
    answer = ui.post(action)
    assert answer["code"] == 503
    assert answer["message"].startswith(f"{ui.source} did not answer: it ")
    assert "so nothing was run" in answer["message"]
    assert "USE_REDIS" not in answer["message"]


def test_instances_not_listed_by_bw_api(healthy_state, tmp_path, monkeypatch, captured_logs):
    """1.7 lists the instances through bw-api (InstancesUtils.get_instances): when only that fails, the instances
    card is an error, never "no instance answered", and the rest of the page stands."""
    ui = open_ui("1.7", healthy_state, tmp_path, monkeypatch)
    ui.api.fail_paths = ("/instances",)
    view = ui.pre_render()
    assert view["health"]["state"] == "healthy"
    assert view["instances"]["state"] == "error"
    assert "No instance answered" not in json.dumps(view, default=str)
    assert "could not build the instances section (ApiUnavailableError: API returned 500)" in captured_logs.text
