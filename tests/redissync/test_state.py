"""State location: REDISSYNC_STATE_DIR or the user cache dir; BunkerWeb's job cache when importable."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from redissync.state import atomic_write, default_state_dir, open_state


def test_state_dir_from_env_then_cache_home(tmp_path: Path) -> None:
    assert default_state_dir({"REDISSYNC_STATE_DIR": str(tmp_path)}) == tmp_path
    assert default_state_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "redissync"


def test_json_round_trip_and_missing(tmp_path: Path) -> None:
    store = open_state(env={"REDISSYNC_STATE_DIR": str(tmp_path)})
    assert store.read_json("nothing.json") is None
    store.write_json("report.json", {"ok": True, "n": 3})
    assert store.read_json("report.json") == {"ok": True, "n": 3}
    assert not store.inside_bunkerweb


def test_corrupt_json_is_ignored_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{not json")
    assert open_state(env={"REDISSYNC_STATE_DIR": str(tmp_path)}).read_json("report.json") is None


def test_atomic_write_keeps_old_file_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "journal"
    atomic_write(target, b"old")

    def crash(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr("redissync.state.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["journal"]


def test_bunkerweb_job_cache_used_when_its_jobs_module_is_importable(tmp_path: Path, monkeypatch) -> None:
    """Inside BunkerWeb, ``jobs.Job`` persists files in its database; we hand it every write."""
    calls = []

    class Job:  # BunkerWeb's utils/jobs.py interface (docs/bunkerweb-data.md §jobs)
        def __init__(self, logger, path):
            self.job_path = tmp_path / Path(path).parent.parent.name
            calls.append(("init", Path(path).name))

        def cache_file(self, name, data):
            calls.append(("cache_file", name, data))
            return True, "success"

    monkeypatch.setitem(sys.modules, "jobs", types.SimpleNamespace(Job=Job))
    store = open_state("/etc/bunkerweb/plugins/redissync/jobs/redissync-check.py", env={})
    store.write("check-report.json", b"{}")
    assert store.inside_bunkerweb
    assert store.directory == tmp_path / "redissync"
    assert calls == [("init", "redissync-check.py"), ("cache_file", "check-report.json", b"{}")]
