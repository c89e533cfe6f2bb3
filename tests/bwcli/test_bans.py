"""bwcli/bans.py run as ``bwcli plugin redissync bans`` runs it: list, export, import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redissync.bans.cycle import reconcile
from redissync.connection import connect
from redissync.settings import load_settings
from redissync.state import open_state
from tests.bed.bans import write_ban
from tests.bed.jobrun import run_bwcli
from tests.conftest import REDIS_PASSWORD


def journal_from(server) -> None:
    client = connect(load_settings(server.settings_env()))
    reconcile(client, open_state())
    client.close()


@pytest.mark.compat
def test_list_filters_and_json(password_redis, capsys) -> None:
    client = password_redis.client()
    write_ban(client, "192.0.2.1", ttl=600)
    write_ban(client, "192.0.2.1", service="my_ip_app", ttl=600)
    write_ban(client, "192.0.2.2", ttl=None)
    journal_from(password_redis)
    env = password_redis.settings_env()
    assert run_bwcli("bans.py", env, ["list", "--ip", "192.0.2.1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(row["scope"] for row in rows) == ["global", "service"]
    assert run_bwcli("bans.py", env, ["list", "--service", "my_ip_app", "--json"]) == 0
    assert [row["key"] for row in json.loads(capsys.readouterr().out)] == ["bans_service_my_ip_app_ip_192.0.2.1"]
    assert run_bwcli("bans.py", env, ["list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 live bans") and "permanent" in out and "service my_ip_app" in out
    assert REDIS_PASSWORD not in out


@pytest.mark.compat
def test_export_then_import_into_an_empty_server(password_redis, make_redis, tmp_path: Path, capsys) -> None:
    client = password_redis.client()
    write_ban(client, "192.0.2.10", ttl=3600)
    write_ban(client, "2001:db8::10", ttl=None)
    client.set("bans_ip_192.0.2.11", b"\xff\xfebinary", ex=3600)
    journal_from(password_redis)
    out_file = tmp_path / "bans.jsonl"
    assert run_bwcli("bans.py", password_redis.settings_env(), ["export", "--output", str(out_file)]) == 0
    assert "exported 3 bans" in capsys.readouterr().out
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert {line["key"] for line in lines} == {"bans_ip_192.0.2.10", "bans_ip_2001:db8::10", "bans_ip_192.0.2.11"}

    target = make_redis(name="target")
    admin = target.client()
    admin.set("bans_ip_192.0.2.10", "already banned here", ex=50)
    bad = tmp_path / "mixed.jsonl"
    bad.write_text(out_file.read_text() + "not json\n" + json.dumps({"ip": "192.0.2.20", "reason": "manual", "ttl": 600}) + "\n"
                   + json.dumps({"ip": "192.0.2.21", "reason": "old", "expires_ms": 1000}) + "\n")
    assert run_bwcli("bans.py", target.settings_env(), ["import", str(bad)]) == 0
    out = capsys.readouterr().out
    assert "3 bans restored, 1 already in Redis (kept), 1 expired (skipped), 1 invalid lines" in out
    assert admin.get("bans_ip_192.0.2.10") == b"already banned here"  # NX: never overwritten
    assert admin.pttl("bans_ip_2001:db8::10") == -1
    assert admin.get("bans_ip_192.0.2.11") == b"\xff\xfebinary"
    assert 3500_000 < admin.pttl("bans_ip_192.0.2.11") <= 3600_000
    manual = json.loads(admin.get("bans_ip_192.0.2.20"))
    assert manual["reason"] == "manual" and manual["ban_scope"] == "global" and 590_000 < admin.pttl("bans_ip_192.0.2.20") <= 600_000


def test_import_of_missing_file_fails_with_exit_1(plain_redis, capsys) -> None:
    assert run_bwcli("bans.py", plain_redis.settings_env(), ["import", "/nonexistent/bans.jsonl"]) == 1
    assert "cannot read /nonexistent/bans.jsonl" in capsys.readouterr().err


def test_list_without_a_journal_is_empty(capsys) -> None:
    assert run_bwcli("bans.py", {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1"}, ["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_forget_all_dry_run_then_yes_so_a_deliberate_flushall_stays_clear(password_redis, capsys) -> None:
    client = password_redis.client()
    keys = [write_ban(client, f"192.0.2.{i}", ttl=3600) for i in range(3)]
    journal_from(password_redis)
    env = password_redis.settings_env()
    assert run_bwcli("bans.py", env, ["forget", "--all"]) == 0
    assert capsys.readouterr().out.startswith("forget: would forget 3 journaled bans (3 not expired)")
    client.flushall()
    assert run_bwcli("bans.py", env, ["forget", "--all", "--yes"]) == 0
    assert capsys.readouterr().out.startswith("forget: forgot 3 journaled bans")
    journal_from(password_redis)  # the next pass after the deliberate FLUSHALL
    assert not client.exists(*keys)
    assert run_bwcli("bans.py", env, ["forget"]) == 2  # --all is required: nothing is forgotten by accident
