"""jobs/redissync-bans.py run exactly as BunkerWeb runs it (exec_module, os.environ, sys.exit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bans import bans_state, write_ban
from harness.jobrun import run_job_file
from harness.servers import free_port
from redissync.bans.archive import open_journal
from tests.conftest import REDIS_PASSWORD

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def state_dir() -> Path:
    return bans_state().directory


@pytest.mark.compat
def test_job_restores_after_flush_and_writes_the_ui_summary(password_redis, captured_logs) -> None:
    client = password_redis.client()
    keys = [write_ban(client, f"192.0.2.{i}", ttl=3600) for i in range(5)]
    keys.append(write_ban(client, "192.0.2.99", service="app.example.com", reason="antibot", ttl=None))
    env = password_redis.settings_env()
    assert run_job_file("redissync-bans", env) == 0
    client.flushall()
    assert run_job_file("redissync-bans", env) == 0
    assert all(client.exists(key) for key in keys)
    assert client.pttl(keys[-1]) == -1
    with open_journal(bans_state(), readonly=True) as journal:
        assert journal.count() == 6
    summary = json.loads((state_dir() / "bans-summary.json").read_text())
    assert summary["last_pass"]["ok"]
    assert summary["last_pass"]["restored"] == 6
    assert summary["by_scope"] == {"global": 5, "service": 1}
    assert summary["by_reason"] == {"bad behavior": 5, "antibot": 1}
    assert len(summary["recent"]) == 6
    lines = [r.getMessage() for r in captured_logs.records if "redissync-bans:" in r.getMessage()]
    assert any("6 bans seen, 6 new" in line for line in lines)
    assert any("0 bans seen, 0 new, 6 restored, 0 expired, 0 unbans propagated" in line and "ms" in line for line in lines)
    assert REDIS_PASSWORD not in captured_logs.text


def test_unreachable_redis_exits_2_with_one_sentence(captured_logs) -> None:
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(free_port()), "REDIS_TIMEOUT": "1000",
           "REDIS_PASSWORD": REDIS_PASSWORD}
    assert run_job_file("redissync-bans", env) == 2
    errors = [r.getMessage() for r in captured_logs.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "REDIS_HOST/REDIS_PORT" in errors[0]
    assert REDIS_PASSWORD not in captured_logs.text


def test_use_redis_no_is_a_no_op() -> None:
    assert run_job_file("redissync-bans", {"USE_REDIS": "no"}) == 0
    state = bans_state()
    assert not (state.work_directory / "bans-journal.sqlite3").exists()
    assert not state.names("bans-")
