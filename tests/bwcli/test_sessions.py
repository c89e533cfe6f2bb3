"""bwcli/sessions.py run as ``bwcli plugin redissync sessions`` runs it (in-process, sys.argv)."""

from __future__ import annotations

import json

import pytest

from harness.jobrun import run_bwcli
from tests.conftest import REDIS_PASSWORD


@pytest.fixture
def populated(password_redis):
    client = password_redis.client()
    for i in range(25):
        client.set(f"sessions_:alpha:{i}", "x", ex=900)
    for i in range(5):
        client.set(f"sessions_:beta:{i}", "x", ex=900)
    client.set("bunkerweb_ui_session:1", "x", ex=900)
    return password_redis


@pytest.mark.compat
def test_stats_json_and_table(populated, capsys) -> None:
    env = populated.settings_env()
    assert run_bwcli("sessions.py", env, ["stats", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cookies"]["alpha"]["live"] == 25
    assert summary["ui"]["live"] == 1
    assert run_bwcli("sessions.py", env, ["stats"]) == 0
    out = capsys.readouterr().out
    assert "30 live sessions" in out
    assert "alpha" in out
    assert "(web UI)" in out
    assert REDIS_PASSWORD not in out


def test_revoke_is_a_dry_run_without_yes(populated, capsys) -> None:
    assert run_bwcli("sessions.py", populated.settings_env(), ["revoke"]) == 0
    assert "dry run: 30 sessions of every cookie would be revoked" in capsys.readouterr().out
    assert populated.client().dbsize() == 31


@pytest.mark.compat
def test_revoke_one_cookie_with_yes(populated, capsys) -> None:
    assert run_bwcli("sessions.py", populated.settings_env(), ["revoke", "--cookie", "alpha", "--yes"]) == 0
    assert "revoked 25 sessions of cookie 'alpha'" in capsys.readouterr().out
    client = populated.client()
    assert not list(client.scan_iter("sessions_:alpha:*"))
    assert client.dbsize() == 6


def test_failures_exit_1_with_one_sentence(populated, capsys) -> None:
    env = populated.settings_env(REDIS_TIMEOUT="1000")
    assert run_bwcli("sessions.py", {"USE_REDIS": "no"}, ["stats"]) == 1
    assert "USE_REDIS" in capsys.readouterr().err
    populated.stop()
    assert run_bwcli("sessions.py", env, ["revoke", "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "sessions:" in err
    assert REDIS_PASSWORD not in err
