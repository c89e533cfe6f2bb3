""""run with LOG_LEVEL=DEBUG for details" holds: with DEBUG an unexpected error prints its traceback on
stderr, every secret of the configuration masked; without it, one line naming the error's type."""

from __future__ import annotations

import pytest

from harness.jobrun import run_bwcli
from redissync.bwcli import bans as bans_cli
from redissync.bwcli import sessions as sessions_cli
from redissync.diagnose.protocol import Session
from tests.conftest import REDIS_PASSWORD

SESSIONS_SECRET = "Sessions-Secret-0b7e61f2"


def boom(*_args, **_kwargs):
    raise RuntimeError(f"boom: password {REDIS_PASSWORD}, secret {SESSIONS_SECRET}")


def env_of(server, debug: bool) -> dict[str, str]:
    return server.settings_env(SESSIONS_SECRET=SESSIONS_SECRET, **({"LOG_LEVEL": "DEBUG"} if debug else {}))


def assert_masked_traceback(text: str) -> None:
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: boom: password ********, secret ********" in text
    assert REDIS_PASSWORD not in text
    assert SESSIONS_SECRET not in text


@pytest.mark.parametrize("debug", [True, False])
def test_bans_import(password_redis, tmp_path, monkeypatch, capsys, debug) -> None:
    monkeypatch.setattr(bans_cli, "read_import", boom)
    source = tmp_path / "bans.jsonl"
    source.write_text("{}\n")
    assert run_bwcli("bans.py", env_of(password_redis, debug), ["import", str(source)]) == 1
    captured = capsys.readouterr()
    assert "bans failed with an unexpected RuntimeError; run with LOG_LEVEL=DEBUG for details" in captured.err
    if debug:
        assert_masked_traceback(captured.err)
    else:
        assert "Traceback" not in captured.err
        assert "boom" not in captured.err


def test_sessions_inside_the_redis_command(password_redis, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sessions_cli, "session_stats", boom)
    assert run_bwcli("sessions.py", env_of(password_redis, True), ["stats"]) == 1
    captured = capsys.readouterr()
    assert "sessions failed with an unexpected RuntimeError" in captured.err
    assert_masked_traceback(captured.err)
    assert REDIS_PASSWORD not in captured.out


@pytest.mark.parametrize("debug", [True, False])
def test_check(password_redis, monkeypatch, capsys, debug) -> None:
    monkeypatch.setattr(Session, "authenticate", boom)
    assert run_bwcli("check.py", env_of(password_redis, debug), []) == 1
    captured = capsys.readouterr()
    assert "unexpected RuntimeError during AUTH: run with LOG_LEVEL=DEBUG for details" in captured.out
    assert REDIS_PASSWORD not in captured.out
    assert SESSIONS_SECRET not in captured.out
    if debug:
        assert_masked_traceback(captured.err)
    else:
        assert "Traceback" not in captured.err
