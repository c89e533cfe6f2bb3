"""jobs/redissync-sessions.py run exactly as BunkerWeb runs it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.jobrun import run_job_file
from redissync.keys import SESSIONS_SUMMARY_KEY as SUMMARY_KEY
from tests.conftest import REDIS_PASSWORD


@pytest.mark.compat
def test_job_counts_bounds_and_publishes(password_redis, captured_logs) -> None:
    client = password_redis.client()
    client.set("sessions_:bw:1", "x", ex=600)
    client.set("sessions_:bw:2", "x")
    client.set("bunkerweb_ui_session:1", "x", ex=600)
    client.hset("sessions_:bw:3", mapping={"a": "b"})
    assert run_job_file("redissync-sessions", password_redis.settings_env(SESSIONS_ABSOLUTE_TIMEOUT="7200")) == 0
    summary = json.loads((Path(os.environ["REDISSYNC_STATE_DIR"]) / "sessions-summary.json").read_text())
    assert summary["live"] == 2
    assert summary["ui"]["live"] == 1
    assert summary["bounded_now"] == 1
    assert summary["malformed"]["wrong_type"] == 1
    assert 7190 < client.ttl("sessions_:bw:2") <= 7200
    assert client.ttl("sessions_:bw:3") == -1
    assert json.loads(client.get(SUMMARY_KEY)) == summary
    assert client.ttl(SUMMARY_KEY) > 0
    assert "2 live sessions (bw 2), 1 web UI sessions; 1 without TTL given SESSIONS_ABSOLUTE_TIMEOUT=7200s" in captured_logs.text
    assert REDIS_PASSWORD not in captured_logs.text


def test_default_absolute_timeout_is_bunkerwebs(plain_redis) -> None:
    client = plain_redis.client()
    client.set("sessions_:bw:1", "x")
    assert run_job_file("redissync-sessions", plain_redis.settings_env()) == 0
    assert 86390 < client.ttl("sessions_:bw:1") <= 86400


def test_invalid_timeout_exits_2_with_the_setting_named(plain_redis, captured_logs) -> None:
    assert run_job_file("redissync-sessions", plain_redis.settings_env(SESSIONS_ABSOLUTE_TIMEOUT="1d")) == 2
    errors = [r.getMessage() for r in captured_logs.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "SESSIONS_ABSOLUTE_TIMEOUT='1d' is invalid" in errors[0]
