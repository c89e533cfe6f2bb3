"""bwcli/check.py as `bwcli plugin redissync check` runs it (in-process) and standalone (`python bwcli/check.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.jobrun import ROOT, run_bwcli
from harness.servers import free_port
from tests.conftest import REDIS_PASSWORD


@pytest.mark.compat
def test_json_healthy_exits_0(password_redis, capsys) -> None:
    assert run_bwcli("check.py", password_redis.settings_env(), ["--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["healthy"]
    assert report["state"] in ("healthy", "warning")
    assert REDIS_PASSWORD not in out


@pytest.mark.compat
def test_text_failure_exits_1_and_names_the_setting(capsys) -> None:
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(free_port())}
    assert run_bwcli("check.py", env, []) == 1
    out = capsys.readouterr().out
    assert "✗ TCP connect" in out, "no colour off a TTY"
    assert "REDIS_PORT" in out, "no colour off a TTY"
    assert "\033[" not in out, "no colour off a TTY"


def test_warnings_only_exit_0(plain_redis, capsys) -> None:
    assert run_bwcli("check.py", plain_redis.settings_env(), []) == 0
    assert "healthy with" in capsys.readouterr().out


def test_standalone_script(plain_redis) -> None:
    env = {**os.environ, **plain_redis.settings_env()}
    done = subprocess.run([sys.executable, str(ROOT / "bwcli" / "check.py"), "--json"], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["facts"]["role"] == "master"
