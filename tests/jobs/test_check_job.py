"""jobs/redissync-check.py run exactly as BunkerWeb's scheduler runs it (exec_module, job name, os.environ)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.jobrun import run_job_file
from harness.servers import free_port
from redissync.reports import HISTORY_LENGTH
from tests.conftest import REDIS_PASSWORD

WRONG_PASSWORD = "Wrong-Pw-8e1f0a77-never-logged"


def state_dir() -> Path:
    return Path(os.environ["REDISSYNC_STATE_DIR"])


def cached(name: str):
    return json.loads((state_dir() / name).read_text())


@pytest.mark.compat
def test_healthy_exits_0_and_caches_report_and_history(plain_redis, captured_logs) -> None:
    assert run_job_file("redissync-check", plain_redis.settings_env()) == 0
    assert run_job_file("redissync-check", plain_redis.settings_env()) == 0
    report = cached("check-report.json")
    assert report["healthy"]
    assert report["steps"][-1]["id"] == "server"
    history = cached("check-history.json")
    assert len(history) == 2
    assert all("ping_median_ms" in entry for entry in history)
    assert "redissync-check: healthy" in captured_logs.text


def test_units_rule_inside_bunkerweb_and_standalone(password_redis, standalone, bunkerweb_core) -> None:
    """The default test configuration is every user's (core redis owns REDIS_*, ms); outside it, seconds."""
    assert run_job_file("redissync-check", password_redis.settings_env(REDISSYNC_BW_CORE_DIR=str(bunkerweb_core))) == 0
    inside = cached("check-report.json")
    assert inside["state"] == "healthy"
    assert inside["settings"]["timeout_s"] == 1.0  # core's default, 1000 ms
    assert "timeout 1000 ms" in inside["steps"][0]["summary"]
    assert run_job_file("redissync-check", password_redis.settings_env()) == 0  # `standalone`: no core plugin
    outside = cached("check-report.json")
    assert outside["state"] == "healthy"
    assert outside["settings"]["timeout_s"] == 5.0  # the seed table's 5 s
    assert "timeout 5 s" in outside["steps"][0]["summary"]
    assert any("is seconds" in note for note in outside["notes"])


def test_history_stays_short(plain_redis) -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    (state_dir() / "check-history.json").write_text(json.dumps([{"at": "old"}] * 100))
    assert run_job_file("redissync-check", plain_redis.settings_env()) == 0
    history = cached("check-history.json")
    assert len(history) == HISTORY_LENGTH
    assert history[-1]["at"] != "old"


def test_disabled_exits_0_and_logs_it(captured_logs) -> None:
    assert run_job_file("redissync-check", {"USE_REDIS": "no"}) == 0
    assert "disabled" in captured_logs.text
    assert cached("check-report.json")["state"] == "disabled"


def test_failure_exits_2_with_the_sentence(captured_logs) -> None:
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(free_port())}
    assert run_job_file("redissync-check", env) == 2
    errors = [record.getMessage() for record in captured_logs.records if record.levelname == "ERROR"]
    assert len(errors) == 1
    assert "REDIS_PORT" in errors[0]
    assert "connection refused" in errors[0]
    assert cached("check-report.json")["failed_step"] == "tcp"


def test_bad_setting_exits_2_naming_it(captured_logs) -> None:
    assert run_job_file("redissync-check", {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_TIMEOUT": "soon"}) == 2
    assert "REDIS_TIMEOUT" in captured_logs.text


def test_no_secret_in_logs_or_cached_files(password_redis, captured_logs) -> None:
    assert run_job_file("redissync-check", password_redis.settings_env(REDIS_PASSWORD=WRONG_PASSWORD)) == 2
    assert "REDIS_PASSWORD" in captured_logs.text
    assert run_job_file("redissync-check", password_redis.settings_env()) == 0
    stored = "".join(path.read_text() for path in state_dir().iterdir())
    for secret in (WRONG_PASSWORD, REDIS_PASSWORD):
        assert secret not in captured_logs.text
        assert secret not in stored
