"""jobs/redissync-metrics.py run exactly as BunkerWeb runs it (exec_module, os.environ, sys.exit)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.acl import LEAST_PASSWORD, LEAST_USER
from harness.jobrun import run_job_file
from redissync.keys import METRICS_LOCK_KEY as LOCK_KEY
from redissync.keys import METRICS_SUMMARY_KEY as SUMMARY_KEY
from tests.conftest import REDIS_PASSWORD


def summary_file() -> Path:
    return Path(os.environ["REDISSYNC_STATE_DIR"]) / "metrics-summary.json"


def seed(client) -> None:
    client.set("metrics:badbehavior_counter_bans:0", "3")
    client.set("metrics:badbehavior_counter_bans:1", "4")
    client.hset("metrics:badbehavior_counter_bans:2", mapping={"x": "1"})
    client.rpush("requests", *["{}"] * 12)


@pytest.mark.compat
def test_job_aggregates_and_writes_summary(password_redis, captured_logs) -> None:
    client = password_redis.client()
    seed(client)
    assert run_job_file("redissync-metrics", password_redis.settings_env(METRICS_MAX_BLOCKED_REQUESTS_REDIS="1k")) == 0
    summary = json.loads(summary_file().read_text())
    assert summary["counters"] == {"badbehavior": {"bans": 7}}
    assert summary["malformed"]["wrong_type"] == 1
    assert summary["requests"]["cap"] == 1000
    assert summary["requests"]["length"] == 12
    assert json.loads(client.get(SUMMARY_KEY)) == summary
    assert not client.exists(LOCK_KEY)
    assert "redissync-metrics: 1 counter series" in captured_logs.text
    assert REDIS_PASSWORD not in captured_logs.text


def test_least_privilege_acl_user_is_enough(acl_redis) -> None:
    seed(acl_redis.client())
    env = acl_redis.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD)
    assert run_job_file("redissync-metrics", env) == 0
    assert json.loads(summary_file().read_text())["counters"] == {"badbehavior": {"bans": 7}}


def test_invalid_cap_is_one_actionable_sentence(plain_redis, captured_logs) -> None:
    assert run_job_file("redissync-metrics", plain_redis.settings_env(METRICS_MAX_BLOCKED_REQUESTS_REDIS="lots")) == 2
    errors = [r.getMessage() for r in captured_logs.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "METRICS_MAX_BLOCKED_REQUESTS_REDIS='lots' is invalid" in errors[0]


def test_another_scheduler_holding_the_lock_shares_its_summary(plain_redis, captured_logs) -> None:
    client = plain_redis.client()
    client.set(LOCK_KEY, "other-scheduler", ex=60)
    client.set(SUMMARY_KEY, json.dumps({"summary": "from the other scheduler"}))
    assert run_job_file("redissync-metrics", plain_redis.settings_env()) == 0
    assert json.loads(summary_file().read_text()) == {"summary": "from the other scheduler"}
    assert client.get(LOCK_KEY) == b"other-scheduler"
    assert "another scheduler" in captured_logs.text


def test_redis_down_exits_2_and_disabled_exits_0(plain_redis, captured_logs) -> None:
    env = plain_redis.settings_env(REDIS_TIMEOUT="1000")
    plain_redis.stop()
    assert run_job_file("redissync-metrics", env) == 2
    assert "REDIS_HOST" in captured_logs.text or "REDIS_PORT" in captured_logs.text
    assert run_job_file("redissync-metrics", {"USE_REDIS": "no"}) == 0
