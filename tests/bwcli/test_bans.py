"""bwcli/bans.py run as ``bwcli plugin redissync bans`` runs it: list, export, import."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.bans import write_ban
from harness.jobrun import run_bwcli
from redissync.bans.cycle import reconcile
from redissync.connection import connect
from redissync.settings import load_settings
from redissync.state import open_state
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
    assert out.startswith("3 live bans in the journal\n")
    assert "permanent" in out
    assert REDIS_PASSWORD not in out


def test_list_is_a_table_for_people(password_redis, capsys) -> None:
    """Header, aligned columns, human durations, country, the service behind a global ban, BunkerWeb's
    plain-text value as a kind of its own, and correct plurals."""
    client = password_redis.client()
    client.set("bans_ip_192.0.2.1", json.dumps({"reason": "antibot", "service": "www.example.com", "date": 1, "country": "FR",
                                                "ban_scope": "global", "reason_data": {}, "permanent": False}), ex=86399)
    write_ban(client, "2001:db8::5", service="app_example_org", ttl=300)
    client.set("bans_ip_192.0.2.9", "bad behavior", ex=7200)  # badbehavior's first write: plain text
    journal_from(password_redis)
    assert run_bwcli("bans.py", password_redis.settings_env(), ["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "3 live bans in the journal (1 with a plain-text value)"
    assert lines.pop().startswith("plain: BunkerWeb's own plain-text value")
    header = lines[1]
    assert header.split() == ["IP", "SCOPE", "SERVICE", "COUNTRY", "REASON", "EXPIRES", "IN", "KIND"]
    rows = {line.split()[0]: line for line in lines[2:]}
    for column in ("SCOPE", "SERVICE", "COUNTRY", "REASON", "EXPIRES IN", "KIND"):  # every cell starts under its header
        start = header.index(column)
        assert all(row[start - 2:start] == "  " and row[start] != " " for row in rows.values()), (column, lines)
    france = rows["192.0.2.1"]
    assert "(from www.example.com)" in france
    assert "  FR  " in france
    assert "antibot" in france
    assert re.search(r"  23 h 59 m +json$", france), france
    assert "app_example_org" in rows["2001:db8::5"]
    assert re.search(r"  4 m 5\d s +json$", rows["2001:db8::5"])
    plain = rows["192.0.2.9"]
    assert "bad behavior" in plain
    assert plain.rstrip().endswith("plain")
    assert "malformed" not in plain

    assert run_bwcli("bans.py", password_redis.settings_env(), ["list", "--ip", "192.0.2.1"]) == 0
    assert capsys.readouterr().out.startswith("1 live ban matching in the journal\n")
    assert run_bwcli("bans.py", password_redis.settings_env(), ["list", "--ip", "192.0.2.1", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["country"], row["triggered_by"], row["kind"], row["scope"]) == ("FR", "www.example.com", "json", "global")


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
    assert run_bwcli("bans.py", target.settings_env(), ["import", str(bad)]) == 1  # an invalid line: nothing written
    err = capsys.readouterr().err
    assert "line 4: not JSON" in err
    assert "nothing was imported" in err
    assert "--skip-invalid" in err
    assert admin.dbsize() == 1
    assert run_bwcli("bans.py", target.settings_env(), ["import", "--skip-invalid", str(bad)]) == 0
    out = capsys.readouterr().out
    assert "3 bans restored, 1 already in Redis (kept), 1 expired (skipped), 1 invalid lines (skipped)" in out
    assert admin.get("bans_ip_192.0.2.10") == b"already banned here"  # NX: never overwritten
    assert admin.pttl("bans_ip_2001:db8::10") == -1
    assert admin.get("bans_ip_192.0.2.11") == b"\xff\xfebinary"
    assert 3500_000 < admin.pttl("bans_ip_192.0.2.11") <= 3600_000
    manual = json.loads(admin.get("bans_ip_192.0.2.20"))
    assert manual["reason"] == "manual"
    assert manual["ban_scope"] == "global"
    assert 590_000 < admin.pttl("bans_ip_192.0.2.20") <= 600_000


def test_import_of_missing_file_fails_with_exit_1(plain_redis, capsys) -> None:
    assert run_bwcli("bans.py", plain_redis.settings_env(), ["import", "/nonexistent/bans.jsonl"]) == 1
    assert "cannot read /nonexistent/bans.jsonl" in capsys.readouterr().err


def test_every_bad_line_is_reported_with_its_number_up_to_a_limit(plain_redis, tmp_path: Path, capsys) -> None:
    good = json.dumps({"ip": "192.0.2.30", "reason": "manual", "ttl": 600})
    lines = [good, "{", json.dumps({"ip": "not-an-ip", "reason": "x", "ttl": 5}), json.dumps({"ip": "192.0.2.31"}), ""]
    lines += ["[]"] * 25
    source = tmp_path / "bad.jsonl"
    source.write_text("\n".join(lines) + "\n")
    assert run_bwcli("bans.py", plain_redis.settings_env(), ["import", str(source)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:4] == ["bans import: line 2: not JSON", "bans import: line 3: no key and no valid ip",
                       "bans import: line 4: no value or reason", "bans import: line 6: not a JSON object"]
    assert len([line for line in err if ": line " in line]) == 20
    assert "bans import: … and 8 more invalid lines" in err
    assert err[-1].startswith("bans import: 28 invalid lines of 30: nothing was imported")
    assert plain_redis.client().dbsize() == 0


def test_list_before_the_bans_job_ever_ran(capsys) -> None:
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1"}
    assert run_bwcli("bans.py", env, ["list", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "the bans job has never run" in captured.err
    assert run_bwcli("bans.py", env, ["list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the bans job has never run")
    assert "0 live bans" not in out


def test_list_after_a_pass_with_no_ban_says_zero(plain_redis, capsys) -> None:
    journal_from(plain_redis)
    assert run_bwcli("bans.py", plain_redis.settings_env(), ["list"]) == 0
    assert capsys.readouterr().out == "0 live bans in the journal\n"


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


def test_import_writes_the_current_modes_names(plain_redis, tmp_path: Path, capsys) -> None:
    """A file exported in Redis Cluster mode (``bans_ip_{<ip>}``) imported on a standalone server: historical names."""
    rows = [{"key": "bans_ip_{192.0.2.40}", "value": '{"reason":"manual"}', "ttl": 600},
            {"key": "bans_service_shop_%7Beu%7D_ip_{192.0.2.41}", "value": '{"reason":"manual"}', "ttl": 600},
            {"key": "bans_ip_192.0.2.42", "value": '{"reason":"manual"}', "ttl": 600}]
    source = tmp_path / "cluster.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert run_bwcli("bans.py", plain_redis.settings_env(), ["import", str(source)]) == 0
    assert "3 bans restored" in capsys.readouterr().out
    admin = plain_redis.client()
    assert sorted(admin.keys("bans_*")) == [b"bans_ip_192.0.2.40", b"bans_ip_192.0.2.42", b"bans_service_shop_{eu}_ip_192.0.2.41"]
