"""Long work shows one progress line on a terminal, updated in place, and nothing when output is not one.

The commands run as standalone scripts in a child process whose stderr is a real pseudo-terminal (or a
pipe), over bans or sessions in a real Redis: 2 000 in the fast suite, 100 000 in ``make reliability``."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from harness.jobrun import ROOT

SIZES = [2_000, pytest.param(100_000, marks=pytest.mark.slow)]


def run_script(script: str, argv: list[str], env: dict[str, str], on_terminal: bool) -> tuple[int, str, str]:
    """(exit code, stdout, stderr); stderr is a pseudo-terminal with ``on_terminal``."""
    full_env = {**os.environ, **env}
    command = [sys.executable, str(ROOT / "bwcli" / script), *argv]
    if not on_terminal:
        done = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=120, check=False)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    process = subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stdout, _ = process.communicate(timeout=120)
    return process.returncode, stdout, b"".join(chunks).decode()


def assert_progress(stderr: str, label: str) -> None:
    updates = [part for part in stderr.split("\r") if part.startswith(f"{label}: ")]
    assert updates, f"no progress line for {label!r} in {stderr[:300]!r}"
    assert "\n" not in stderr, "the progress line is updated in place, never scrolled"
    assert stderr.endswith("\r"), "the line is erased before the result"
    assert stderr.split("\r")[-2].strip() == "", "the line is erased before the result"


@pytest.mark.parametrize("count", SIZES)
@pytest.mark.parametrize("on_terminal", [True, False])
def test_import(plain_redis, tmp_path, count, on_terminal) -> None:
    source = tmp_path / "bans.jsonl"
    with source.open("w") as out:
        for index in range(count):
            out.write(json.dumps({"ip": f"10.{index >> 16}.{(index >> 8) & 255}.{index & 255}", "reason": "manual",
                                  "ttl": 3600}) + "\n")
    code, out, err = run_script("bans.py", ["import", str(source)], plain_redis.settings_env(), on_terminal)
    assert code == 0, err
    assert f"{count} bans restored" in out
    assert plain_redis.client().dbsize() == count
    if on_terminal:
        assert_progress(err, "checking lines")
        assert_progress(err, "restoring bans")
        assert f"/{count:,} (" in err
    else:
        assert err == "", "nothing but the result when output is not a terminal"


@pytest.mark.parametrize("count", SIZES)
@pytest.mark.parametrize("on_terminal", [True, False])
def test_revoke_sessions(plain_redis, count, on_terminal) -> None:
    client = plain_redis.client()
    pipe = client.pipeline(transaction=False)
    for index in range(count):
        pipe.set(f"sessions_:bw_session:s{index}", "x", ex=3600)
        if index % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    code, out, err = run_script("sessions.py", ["revoke", "--yes"], plain_redis.settings_env(), on_terminal)
    assert code == 0, err
    assert out.startswith(f"revoked {count} sessions of every cookie")
    assert client.dbsize() == 0
    if on_terminal:
        assert_progress(err, "revoking sessions")
    else:
        assert err == ""

