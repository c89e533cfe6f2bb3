"""``pre_render`` (ui/actions.py → redissync.ui.page) over reports cached by the real jobs on the test bed.

ui/actions.py is loaded the way BunkerWeb loads it (``SourceFileLoader("actions", …)``) and called with
BunkerWeb's keyword arguments; ``bw_instances_utils`` is a stand-in for the UI's InstancesUtils.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import Any

import pytest

from harness.jobrun import ROOT
from redissync.ui.page import GENERIC_ERROR, JOBS, REPORTS, gather
from tests.ui.bunkerweb import StandInUIDatabase

ACTIONS_FILE = ROOT / "ui" / "actions.py"


def load_actions(path: Path = ACTIONS_FILE) -> Any:
    """BunkerWeb's ``SourceFileLoader("actions", path).load_module()``, without the deprecated call."""
    loader = SourceFileLoader("actions", str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("actions", loader))
    loader.exec_module(module)
    return module


def call_pre_render(built, monkeypatch: pytest.MonkeyPatch, **kwargs) -> dict:
    """pre_render as BunkerWeb calls it; the UI's configuration comes from its environment here (no db)."""
    for name in [name for name in os.environ if name.startswith(("REDIS_", "USE_REDIS"))]:
        monkeypatch.delenv(name)
    for name, value in built.env.items():
        monkeypatch.setenv(name, value)
    arguments = {"app": None, "db": None, "bw_instances_utils": built.instances, "args": {}, "data": {}} | kwargs
    return load_actions().pre_render(**arguments)


def assert_no_secret(view: Any, secrets: tuple[str, ...]) -> None:
    dumped = json.dumps(view, default=str)
    for secret in secrets:
        assert secret not in dumped


def test_healthy(healthy_state, monkeypatch, captured_logs):
    assert healthy_state.codes == dict.fromkeys(("redissync-bans", "redissync-metrics", "redissync-sessions", "redissync-check"), 0)
    view = call_pre_render(healthy_state, monkeypatch)
    assert view["errors"] == []
    assert view["health"]["state"] == "healthy", view["health"]
    assert view["health"]["sentence"].startswith("Redis answers at redis://127.0.0.1:")
    assert [row["status"] for row in view["steps"]["rows"]].count("fail") == 0
    assert dict(view["connection"]["rows"])["Authentication"] == "password set"
    # core's redis plugin owns the settings (every real install): the units are information, the banner green
    assert dict(view["connection"]["rows"])["Timeout"] == "2000 ms"
    assert view["health"]["warnings"] == []
    assert any("milliseconds" in note for note in view["health"]["notes"])
    assert view["topology"]["state"] == "na"
    assert view["instances"]["reaching"] == "2/2"
    assert view["instances"]["ping_ok"]
    categories = {row["category"] for row in view["keyspace"]["rows"]}
    assert {"Bans", "Sessions", "Counters", "Metrics"} <= categories
    charts = {chart["title"]: chart for chart in view["trends"]["charts"]}
    assert {"PING latency (median)", "Operations per second", "Memory used", "Keys"} <= set(charts)
    assert charts["Operations per second"]["spark"].points > 5
    assert charts["Operations per second"]["spark"].segments
    assert 0 < len(view["bans"]["recent"]) <= 20
    assert dict(view["bans"]["scopes"]).keys() == {"global", "service"}
    assert view["bans"]["last_pass"]["ok"] is True
    assert any(ban["expires"] == "permanent" for ban in view["bans"]["recent"])
    assert view["sessions"]["state"] == "ok"
    assert dict(view["sessions"]["rows"])["Live sessions"] != "0"
    assert [row["ok"] for row in view["jobs"]["rows"]] == [True] * 4
    assert_no_secret(view, healthy_state.secrets)
    assert not any(secret in captured_logs.text for secret in healthy_state.secrets)


def test_redis_down(down_state, monkeypatch):
    view = call_pre_render(down_state, monkeypatch)
    cached = json.loads(Path(down_state.env["REDISSYNC_STATE_DIR"], "check-report.json").read_text())
    assert cached["state"] == "failed"
    assert down_state.codes["redissync-check (down)"] == 2
    health = view["health"]
    assert health["state"] == "failed"
    assert health["sentence"] == cached["failure"]  # the first failing step's sentence, verbatim
    assert "REDIS_HOST/REDIS_PORT" in health["sentence"]
    assert health["settings"] == ["REDIS_HOST", "REDIS_PORT"]
    history = json.loads(Path(down_state.env["REDISSYNC_STATE_DIR"], "check-history.json").read_text())
    first_failure = next(entry for entry in history if entry["state"] == "failed")  # the earlier checks were healthy
    assert health["title"].startswith(f"Redis unreachable since {first_failure['at'][11:19]} UTC, ")
    failing = [row for row in view["steps"]["rows"] if row["status"] == "fail"]
    assert len(failing) == 1
    assert failing[0]["sentence"] == cached["failure"]
    assert view["instances"]["reaching"] == "0/2"
    assert not view["instances"]["ping_ok"]
    for section in ("keyspace", "trends", "bans", "sessions"):  # the last figures stay, marked with their age
        assert view[section]["state"] == "ok", section
        assert re.fullmatch(r"stale: from \d+ (s|min) ago, before the failure", view[section]["stale"]), view[section]
    assert dict(view["keyspace"]["facts"])["Role"] == "master"  # shown, but inside a stale card
    jobs = {row["job"]: row for row in view["jobs"]["rows"]}
    assert down_state.codes["redissync-bans (down)"] == 2
    assert jobs["redissync-check"]["ok"] is False
    assert jobs["redissync-bans"]["ok"] is False
    assert "REDIS_HOST/REDIS_PORT" in jobs["redissync-bans"]["detail"]  # the job's own log line
    for job in ("redissync-metrics", "redissync-sessions"):  # succeeded before the outage: never green now
        assert jobs[job]["ok"] is None
        assert jobs[job]["stale"]
        assert jobs[job]["detail"].startswith("succeeded before the failure")
    assert_no_secret(view, down_state.secrets)


def test_after_recovery_nothing_is_stale(recovered_state, monkeypatch):
    assert recovered_state.codes["redissync-check (down)"] == 2
    assert recovered_state.codes["redissync-bans (down)"] == 2
    view = call_pre_render(recovered_state, monkeypatch)
    assert view["health"]["state"] in ("healthy", "warning")
    assert "unreachable" not in view["health"]["title"]
    assert not [name for name, section in view.items() if isinstance(section, dict) and section.get("stale")]
    assert [(row["job"], row["ok"]) for row in view["jobs"]["rows"]] == [(job, True) for job in JOBS]
    assert view["bans"]["last_pass"]["ok"] is True
    assert_no_secret(view, recovered_state.secrets)


def test_sentinel_degraded(sentinel_state, monkeypatch):
    view = call_pre_render(sentinel_state, monkeypatch)
    topology = view["topology"]
    assert topology["state"] == "ok"
    assert topology["degraded"]
    assert topology["reachable"] == "2/3"
    down = [s for s in topology["sentinels"] if not s["ok"]]
    assert len(down) == 1
    assert "REDIS_SENTINEL_HOSTS" in down[0]["detail"]
    assert topology["agreement_ok"]
    assert topology["master"] != "—"
    assert topology["replicas"]
    assert all(replica["ok"] for replica in topology["replicas"])
    health = view["health"]
    assert health["state"] == "warning"
    assert health["title"].startswith("Degraded redundancy")
    assert down[0]["address"] in health["sentence"]
    assert "still working: 2 other sentinel(s) answer" in health["sentence"]
    assert dict(view["connection"]["rows"])["Mode"] == "Sentinel"
    assert_no_secret(view, sentinel_state.secrets)


def test_no_data_yet(nodata_state, monkeypatch):
    view = call_pre_render(nodata_state, monkeypatch)
    assert view["errors"] == []
    assert view["health"]["state"] == "unknown"
    assert "redissync-check" in view["health"]["sentence"]
    for section, job in (("steps", "redissync-check"), ("keyspace", "redissync-metrics"), ("bans", "redissync-bans"),
                         ("sessions", "redissync-sessions"), ("trends", "redissync-metrics")):
        assert view[section]["state"] == "empty", section
        assert view[section]["message"].startswith("No data yet")
        assert job in view[section]["message"]
    assert view["instances"]["state"] == "empty"
    assert [row["when"] for row in view["jobs"]["rows"]] == ["never"] * 4
    assert_no_secret(view, nodata_state.secrets)


def test_reports_read_through_bunkerwebs_database(healthy_state, tmp_path, monkeypatch):
    """Inside BunkerWeb the UI reads the job cache through ``db`` and the settings from its config."""
    state_dir = Path(healthy_state.env["REDISSYNC_STATE_DIR"])
    copy = tmp_path / "scheduler-cache"
    shutil.copytree(state_dir, copy)
    monkeypatch.delenv("REDISSYNC_STATE_DIR")
    config = {k: v for k, v in healthy_state.env.items() if k != "REDISSYNC_STATE_DIR"}
    db = StandInUIDatabase(copy, config)
    view = gather(db=db, bw_instances_utils=healthy_state.instances, env={"REDISSYNC_BW_CORE_DIR": config["REDISSYNC_BW_CORE_DIR"]})
    assert set(db.asked) == {(job, name) for name, job in REPORTS.items()}
    assert view["health"]["state"] == "healthy"
    assert view["keyspace"]["state"] == "ok"
    assert view["bans"]["recent"]
    assert dict(view["connection"]["rows"])["Target"].endswith(f":{config['REDIS_PORT']}/0")
    jobs = {row["job"]: row for row in view["jobs"]["rows"]}
    assert all(row["ok"] is True for row in jobs.values())
    assert "ms)" not in jobs["redissync-bans"]["detail"]


def test_job_status_ignores_bunkerwebs_run_records(down_state, tmp_path, monkeypatch):
    """BunkerWeb records a batch's later failures as successes (JobScheduler.__job_wrapper): the page shows
    what the jobs recorded themselves, and never asks BunkerWeb's run history."""
    copy = tmp_path / "scheduler-cache"
    shutil.copytree(Path(down_state.env["REDISSYNC_STATE_DIR"]), copy)
    monkeypatch.delenv("REDISSYNC_STATE_DIR")
    config = {k: v for k, v in down_state.env.items() if k != "REDISSYNC_STATE_DIR"}
    db = StandInUIDatabase(copy, config)
    view = gather(db=db, bw_instances_utils=down_state.instances, env={"REDISSYNC_BW_CORE_DIR": config["REDISSYNC_BW_CORE_DIR"]})
    assert not db.runs_asked
    jobs = {row["job"]: row for row in view["jobs"]["rows"]}
    assert jobs["redissync-bans"]["ok"] is False
    assert jobs["redissync-check"]["ok"] is False


def test_failures_become_a_generic_message_and_a_log_line(healthy_state, tmp_path, monkeypatch, captured_logs):
    copy = tmp_path / "scheduler-cache"
    shutil.copytree(Path(healthy_state.env["REDISSYNC_STATE_DIR"]), copy)
    monkeypatch.delenv("REDISSYNC_STATE_DIR")
    config = {k: v for k, v in healthy_state.env.items() if k != "REDISSYNC_STATE_DIR"}

    class BrokenInstances:
        def get_ping(self, plugin_id):
            raise ConnectionError(f"instance API refused, token={config['REDIS_PASSWORD']}")

        get_data = get_ping

    view = gather(db=StandInUIDatabase(copy, config), bw_instances_utils=BrokenInstances(),
                  env={"REDISSYNC_BW_CORE_DIR": config["REDISSYNC_BW_CORE_DIR"]}, logger=logging.getLogger("REDISSYNC-UI"))
    assert view["errors"] == [GENERIC_ERROR]
    assert view["health"]["state"] == "healthy"  # one part failing leaves the others as they are
    assert view["instances"] == {"state": "error", "message": GENERIC_ERROR}  # not "no instance answered"
    assert "could not build the instances section (ConnectionError: instance API refused" in captured_logs.text
    assert_no_secret(view, healthy_state.secrets)
    assert healthy_state.secrets[0] not in captured_logs.text  # masked in the log too


def test_pre_render_without_the_package_does_not_raise(tmp_path, captured_logs):
    """BunkerWeb may run ui/ from a temporary copy: with no package reachable the page says so, no traceback."""
    copy = tmp_path / "page" / "ui"
    shutil.copytree(ROOT / "ui", copy)
    actions = load_actions(copy / "actions.py")
    actions.CANDIDATE_ROOTS = (copy.parent, tmp_path / "no-plugins" / "redissync")
    view = actions.pre_render(app=None, db=None, bw_instances_utils=None, args={}, data={})
    assert view["errors"] == [actions.PACKAGE_MISSING]
    assert "no jobs/redissync package" in captured_logs.text


def test_older_instances_keyword_is_accepted(nodata_state, monkeypatch):
    view = call_pre_render(nodata_state, monkeypatch, bw_instances_utils=None, instances_utils=nodata_state.instances)
    assert view["instances"]["state"] == "empty"
    assert nodata_state.instances.calls == ["ping redissync", "data redissync/stats"]


def test_redis_off_is_said_plainly_even_over_a_report_cached_while_it_was_on(healthy_state):
    view = gather(env={**healthy_state.env, "USE_REDIS": "no"})
    assert view["health"]["state"] == "disabled"
    assert view["health"]["title"] == "Redis is off"
    assert view["health"]["sentence"].startswith("USE_REDIS is no")
    assert "USE_REDIS=yes" in view["health"]["sentence"]
