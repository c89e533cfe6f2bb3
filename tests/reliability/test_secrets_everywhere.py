"""A distinctive password and sentinel password, grepped across everything redissync produces: every log line
and exception, the rendered confs (the Lua options file may hold them on ``password =`` lines only), the UI's
payloads (pre_render, POST action answers, the rendered template.html), every bwcli output (text and --json)
and every job state file. Success paths and failure paths (wrong passwords, Redis down) alike: 0 hits.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from harness.acl import FULL_PASSWORD, FULL_USER, LEAST_PASSWORD, LEAST_USER, acl_lines
from harness.bans import write_ban
from harness.jobrun import run_bwcli, run_job_file
from harness.sentinel import SENTINEL_PASSWORD, SentinelTopology
from harness.servers import RedisServer, free_port
from redissync.ui.actions import handle
from redissync.ui.page import gather
from tests.confs.rendering import render_case
from tests.reliability import figures
from tests.reliability.conftest import SECRETS, SUITE_PASSWORD, secret_hits
from tests.ui.render import render, wrap

JOBS = ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions")
BWCLI = (("check.py", []), ("check.py", ["--json"]), ("bans.py", ["list"]), ("bans.py", ["list", "--json"]),
         ("bans.py", ["export"]), ("sessions.py", ["stats"]), ("sessions.py", ["stats", "--json"]), ("sessions.py", ["revoke"]))
SECRET_LINE = re.compile(r"^\s*(password|sentinel_password) = ")


class Outputs:
    """Every text one scenario produced, each grepped; counts the outputs for the figures."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: object) -> None:
        self.texts.append((where, text if isinstance(text, str) else json.dumps(text, default=str)))

    def hits(self) -> list[str]:
        return [f"{where}: {hit}" for where, text in self.texts for hit in secret_hits(text)]


def exercise(env: dict[str, str], state: Path, out: Outputs, capsys, caplog, import_file: Path) -> dict[str, int]:
    """Every job, bwcli command, UI payload and state file for ``env``, into ``out``; the exit codes by entry."""
    env = {**env, "REDISSYNC_STATE_DIR": str(state)}
    codes = {}
    for job in JOBS:
        code = codes[job] = run_job_file(job, env)
        captured = capsys.readouterr()
        out.add(f"{job} (exit {code})", captured.out + captured.err)
    for command, argv in (*BWCLI, ("bans.py", ["import", str(import_file)])):
        code = codes[f"{command} {' '.join(argv)}"] = run_bwcli(command, env, argv)
        captured = capsys.readouterr()
        out.add(f"bwcli {command} {' '.join(argv)} (exit {code})", captured.out + captured.err)
    view = gather(env=env, logger=logging.getLogger("REDISSYNC-UI"))
    out.add("pre_render", view)
    out.add("template.html", render(wrap(view)))
    for action in ("check", "reconcile"):
        out.add(f"POST {action}", handle({"action": action}, env=env, logger=logging.getLogger("REDISSYNC-UI")))
    for path in sorted(state.rglob("*")):
        if path.is_file():
            out.add(f"state {path.name}", path.read_bytes().decode("utf-8", "replace"))
    out.add("logs", caplog.text)
    out.add("log records", "\n".join(record.getMessage() for record in caplog.records))
    out.add("exceptions", "\n".join(str(record.exc_info[1]) for record in caplog.records if record.exc_info and record.exc_info[1]))
    caplog.clear()
    return codes


def assert_rendered_confs(env: dict[str, str], directory: Path, secrets: set[str], out: Outputs) -> None:
    """The Lua options file holds each secret on ``password =`` / ``sentinel_password =`` lines only."""
    rendered = render_case(env, directory)
    lines = rendered.options_text.splitlines()
    with_secret = [line for line in lines if any(secret in line for secret in secrets)]
    assert with_secret, with_secret
    assert all(SECRET_LINE.match(line) for line in with_secret), with_secret
    assert {secret for secret in secrets if any(secret in line for line in with_secret)} == secrets
    out.add("redissync-options.lua without its password lines", "\n".join(line for line in lines if not SECRET_LINE.match(line)))
    out.add("redissync.conf", rendered.snippet_text)
    for path in directory.rglob("*"):
        if path.is_file() and path.name != "redissync-options.lua":
            out.add(f"rendered {path.name}", path.read_text(errors="replace"))


def finish(out: Outputs) -> None:
    figures.record("secrets_outputs_grepped", len(out.texts))
    assert out.hits() == []


@pytest.mark.parametrize("password_ok", [True, False], ids=["right-password", "wrong-password"])
def test_standalone(make_redis, tmp_path: Path, capsys, caplog, password_ok: bool) -> None:
    caplog.set_level(logging.DEBUG)
    server: RedisServer = make_redis(password=SUITE_PASSWORD)
    admin = server.client()
    write_ban(admin, "192.0.2.1", ttl=600)
    admin.set("sessions_:bw:1", "x", ex=600)
    env = server.settings_env(REDIS_PASSWORD=SUITE_PASSWORD if password_ok else LEAST_PASSWORD)
    import_file = tmp_path / "import.jsonl"
    import_file.write_text(json.dumps({"ip": "192.0.2.9", "reason": "import", "ttl": 600}) + "\n")
    out = Outputs()
    codes = exercise(env, tmp_path / "state-standalone", out, capsys, caplog, import_file)
    failed = {name for name, code in codes.items() if code}
    assert failed == (set() if password_ok else {name for name in codes if not name.startswith(("bans.py list", "bans.py export"))})
    assert_rendered_confs(env, tmp_path / "http", {env["REDIS_PASSWORD"]}, out)
    finish(out)


def test_acl_user_and_redis_down(make_redis, tmp_path: Path, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server = make_redis(acl_lines=acl_lines(), admin_username=FULL_USER, admin_password=FULL_PASSWORD)
    out = Outputs()
    import_file = tmp_path / "import.jsonl"
    import_file.write_text("not json\n")
    env = server.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD)
    codes = exercise(env, tmp_path / "state-acl", out, capsys, caplog, import_file)
    assert codes.pop(f"bans.py import {import_file}") == 1  # an invalid line: nothing imported, exit 1
    assert set(codes.values()) == {0}
    down = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(free_port()), "REDIS_TIMEOUT": "1000",
            "REDIS_USERNAME": LEAST_USER, "REDIS_PASSWORD": SUITE_PASSWORD}
    assert exercise(down, tmp_path / "state-down", out, capsys, caplog, import_file)["redissync-bans"] == 2
    assert_rendered_confs(env, tmp_path / "http", {LEAST_PASSWORD}, out)
    finish(out)


def test_sentinel_with_both_passwords(sentinel_topology: SentinelTopology, tmp_path: Path, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    write_ban(sentinel_topology.master.client(), "192.0.2.1", ttl=600)
    env = sentinel_topology.settings_env()
    import_file = tmp_path / "import.jsonl"
    import_file.write_text(json.dumps({"ip": "192.0.2.9", "reason": "import", "ttl": 600}) + "\n")
    out = Outputs()
    assert set(exercise(env, tmp_path / "state-sentinel", out, capsys, caplog, import_file).values()) == {0}
    wrong = {**env, "REDIS_SENTINEL_PASSWORD": SUITE_PASSWORD}  # the sentinels refuse: the failure paths
    assert exercise(wrong, tmp_path / "state-sentinel-wrong", out, capsys, caplog, import_file)["redissync-check"] == 2
    assert_rendered_confs(env, tmp_path / "http", {env["REDIS_PASSWORD"], SENTINEL_PASSWORD}, out)
    finish(out)
    assert len(SECRETS) == 6
