"""The least-privilege ACL user (harness/acl.py, documented in docs/least-privilege.md).

1. Every job and every bwcli command works under it (happy paths, parametrized), the diagnosis included
   (it reports persistence as unknown: CONFIG GET is not granted), and the server logs 0 ACL denials.
2. Minimality: the rule minus any one command or key pattern makes some job or command fail, and the
   server's ACL LOG names exactly what was removed. ``role`` is kept for a documented reason (asserted).
3. The Sentinel side: the sentinel user's rule, proven the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from harness.acl import (
    FULL_PASSWORD,
    FULL_USER,
    KEPT_FOR_A_CLEAN_ACL_LOG,
    LEAST_PASSWORD,
    LEAST_PRIVILEGE_COMMANDS,
    LEAST_PRIVILEGE_KEYS,
    LEAST_USER,
    SENTINEL_LEAST_COMMANDS,
    SENTINEL_REQUIRED,
    acl_lines,
    least_privilege_rule,
    sentinel_rule,
)
from harness.bans import write_ban
from harness.jobrun import run_bwcli, run_job_file
from harness.sentinel import SentinelTopology
from harness.servers import RedisServer
from tests.confs.conftest import call, dns, lua_nginx  # noqa: F401  (fixtures for redissync.lua's commands)
from tests.reliability import figures

LUA_ONLY = ("dbsize", "role", "discard")  # sent by redissync.lua only (the nginx test below runs it)
# The one denial the rule causes on purpose: the diagnosis asks CONFIG GET save (persistence), which is not granted
# because CONFIG GET would also reveal requirepass/masterauth; Redis merges repeats into one ACL LOG entry.
EXPECTED_DENIAL = ("command", "config|get")


def set_least_user(server: RedisServer, rule: str) -> None:
    server.client().execute_command("ACL", "SETUSER", LEAST_USER, "reset", "on", f">{LEAST_PASSWORD}", *rule.split())


def least_env(server: RedisServer, **extra: str) -> dict[str, str]:
    return server.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD, **extra)


def denials(client: redis.Redis) -> list[tuple[str, str]]:
    """(reason, object) of each ACL LOG entry: what the server refused, and why."""
    entries = client.execute_command("ACL", "LOG", "128")  # ACL LOG alone lists only the last 10
    out = []
    for entry in entries:
        fields = dict(zip(entry[0::2], entry[1::2], strict=True))
        out.append((_text(fields[b"reason"]), _text(fields[b"object"])))
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def seed(client: redis.Redis) -> None:
    """A cluster's worth of every kind of data redissync reads (enough that every code path runs)."""
    write_ban(client, "192.0.2.1", ttl=600)
    write_ban(client, "192.0.2.2", service="app", ttl=None)
    client.set("plugin_bad_behavior_192.0.2.1", "3", ex=600)
    client.set("sessions_:bw:1", "x", ex=600)
    client.set("sessions_:bw:2", "x")  # no TTL: the sessions job bounds it
    client.set("bunkerweb_ui_session:1", "x", ex=600)
    client.set("metrics:badbehavior_counter_bans:0", "3")
    client.rpush("metrics:badbehavior_table_bans:0", json.dumps({"ip": "192.0.2.1"}))
    client.rpush("requests", json.dumps({"id": 1}))
    client.hset("requests:facet:ip", "192.0.2.1", 1)


Step = tuple[str, Callable[[dict[str, str]], int]]


def steps(admin: redis.Redis, export: Path) -> list[Step]:
    """Every job and bwcli command, in an order where each one's prerequisites exist; the bans job three
    times: first pass, an unban (counters cleared), then a flush (bans restored with SET NX PX)."""

    def unban_then_pass(env: dict[str, str]) -> int:
        admin.delete("bans_ip_192.0.2.1")
        return run_job_file("redissync-bans", env)

    def flush_then_pass(env: dict[str, str]) -> int:
        admin.delete("bans_service_app_ip_192.0.2.2", "redissync:generation")  # data loss, as a flush looks
        return run_job_file("redissync-bans", env)

    return [
        ("redissync-check", lambda env: run_job_file("redissync-check", env)),
        ("redissync-metrics", lambda env: run_job_file("redissync-metrics", env)),
        ("redissync-sessions", lambda env: run_job_file("redissync-sessions", env)),
        ("redissync-bans", lambda env: run_job_file("redissync-bans", env)),
        ("redissync-bans (unban)", unban_then_pass),
        ("redissync-bans (restore)", flush_then_pass),
        ("bwcli check", lambda env: run_bwcli("check.py", env, [])),
        ("bwcli check --json", lambda env: run_bwcli("check.py", env, ["--json"])),
        ("bwcli bans list", lambda env: run_bwcli("bans.py", env, ["list", "--json"])),
        ("bwcli bans export", lambda env: run_bwcli("bans.py", env, ["export", "--output", str(export)])),
        ("bwcli bans import", lambda env: run_bwcli("bans.py", env, ["import", str(export)])),
        ("bwcli sessions stats", lambda env: run_bwcli("sessions.py", env, ["stats", "--json"])),
        ("bwcli sessions revoke", lambda env: run_bwcli("sessions.py", env, ["revoke"])),
        ("bwcli sessions revoke --yes", lambda env: run_bwcli("sessions.py", env, ["revoke", "--yes"])),
        ("bwcli bans forget --all", lambda env: run_bwcli("bans.py", env, ["forget", "--all"])),
        ("bwcli bans forget --all --yes", lambda env: run_bwcli("bans.py", env, ["forget", "--all", "--yes"])),
    ]


def first_failure(server: RedisServer, env: dict[str, str], export: Path) -> str | None:
    """Run every step under ``env``; the name of the first one that does not exit 0 (None: all passed)."""
    admin = server.client()
    seed(admin)
    for name, run in steps(admin, export):
        if run(env) != 0:
            return name
    return None


@pytest.fixture
def least_redis(make_redis) -> RedisServer:
    return make_redis(acl_lines=acl_lines(), admin_username=FULL_USER, admin_password=FULL_PASSWORD)


# -- 1. the happy paths under the rule -----------------------------------------------------------------
@pytest.mark.compat
def test_everything_works_under_the_rule_with_one_expected_denial(least_redis: RedisServer, tmp_path: Path, capsys) -> None:
    assert first_failure(least_redis, least_env(least_redis), tmp_path / "bans.jsonl") is None
    admin = least_redis.client()
    # Redis 6.2 logs the container command of a refused subcommand ("config"), 7.0+ the subcommand itself
    assert [(reason, EXPECTED_DENIAL[1] if name == "config" else name) for reason, name in denials(admin)] == [EXPECTED_DENIAL]
    assert admin.exists("bans_service_app_ip_192.0.2.2")
    assert not admin.exists("plugin_bad_behavior_192.0.2.1")
    assert not admin.keys("sessions_:*")  # revoke --yes ran last
    figures.record("acl_entries_run", len(steps(admin, tmp_path)))


ENTRIES = [name for name, _ in steps(None, Path("unused"))]  # type: ignore[arg-type]


@pytest.mark.parametrize("entry", ENTRIES)
def test_each_entry_under_the_least_privilege_user(entry: str, least_redis: RedisServer, tmp_path: Path, capsys) -> None:
    """Each entry on its own under the least user (its prerequisites run as the admin user would not: also least)."""
    admin = least_redis.client()
    seed(admin)
    env = least_env(least_redis)
    export = tmp_path / "bans.jsonl"
    for name, run in steps(admin, export):
        code = run(env)
        output = capsys.readouterr().out
        if name == entry:
            assert code == 0, f"{entry} failed under the least-privilege user: {output[-500:]}"
            break
    assert set(denials(admin)) <= {EXPECTED_DENIAL}
    if entry == "bwcli check --json":
        report = json.loads(output)
        assert report["healthy"] is True
        assert report["facts"]["persistence"]["rdb"] is None  # unknown: no CONFIG
    if entry == "bwcli check":
        assert "persistence unknown (no CONFIG permission)" in output


# -- 2. minimality ------------------------------------------------------------------------------------------
PROVEN = [command for command in LEAST_PRIVILEGE_COMMANDS if command not in LUA_ONLY] + list(LEAST_PRIVILEGE_KEYS)


@pytest.mark.parametrize("removed", PROVEN)
def test_removing_any_command_or_pattern_breaks_something(removed: str, least_redis: RedisServer, tmp_path: Path, capsys) -> None:
    set_least_user(least_redis, least_privilege_rule(without=removed))
    failed = first_failure(least_redis, least_env(least_redis), tmp_path / "bans.jsonl")
    assert failed is not None, f"nothing failed without {removed}: it is not needed"
    refused = denials(least_redis.client())
    if removed.startswith("~"):
        prefix = removed[1:].rstrip("*")
        assert any(reason == "key" and obj.startswith(prefix) for reason, obj in refused), refused
    else:
        assert ("command", removed) in refused, refused
    figures.record("acl_commands_proven")


@pytest.mark.nginx
def test_lua_needs_dbsize_and_the_kept_commands_keep_acl_log_clean(least_redis: RedisServer, lua_nginx) -> None:  # noqa: F811
    """redissync.lua's /redissync/stats needs DBSIZE. Without ROLE its ping still works (INFO fallback) and without
    DISCARD connections are still pooled, but each leaves a denial in ACL LOG: why they are kept."""
    admin = least_redis.client()
    server, _ = lua_nginx(least_env(least_redis))
    assert call(server, "POST", "/redissync/ping")[0] == 200
    assert call(server, "GET", "/redissync/stats")[0] == 200
    assert denials(admin) == []

    set_least_user(least_redis, least_privilege_rule(without="dbsize"))
    admin.execute_command("CLIENT", "KILL", "USER", LEAST_USER)  # pooled connections re-authenticate
    status, body = call(server, "GET", "/redissync/stats")
    assert status == 500
    assert "NOPERM" in str(body)
    assert ("command", "dbsize") in denials(admin)

    for kept in KEPT_FOR_A_CLEAN_ACL_LOG:
        admin.execute_command("ACL", "LOG", "RESET")
        set_least_user(least_redis, least_privilege_rule(without=kept))
        admin.execute_command("CLIENT", "KILL", "USER", LEAST_USER)
        status, body = call(server, "POST", "/redissync/ping")
        assert status == 200
        assert body["msg"]["role"] == "master"
        assert denials(admin) == [("command", kept)]
    figures.record("acl_commands_proven", 1 + len(KEPT_FOR_A_CLEAN_ACL_LOG))


# -- 3. Sentinel: the data-node rule behind sentinels, and the sentinel user's own rule -----------------------
SENTINEL_LEAST_USER = "redissync-sentinel"
SENTINEL_LEAST_PASSWORD = "Least-Sentinel-Pw-27c9d1e4"


def sentinel_env(topology: SentinelTopology, **extra: str) -> dict[str, str]:
    return topology.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD, REDIS_SENTINEL_USERNAME=SENTINEL_LEAST_USER,
                                 REDIS_SENTINEL_PASSWORD=SENTINEL_LEAST_PASSWORD, **extra)


def set_sentinel_user(topology: SentinelTopology, rule: str) -> None:
    for sentinel in topology.sentinels:
        sentinel.client().execute_command("ACL", "SETUSER", SENTINEL_LEAST_USER, "reset", "on", f">{SENTINEL_LEAST_PASSWORD}",
                                          *rule.split())
        sentinel.client().execute_command("ACL", "LOG", "RESET")


def sentinel_denials(topology: SentinelTopology) -> set[tuple[str, str]]:
    return {denial for sentinel in topology.sentinels for denial in denials(sentinel.client())}


def test_sentinel_users_least_privilege(sentinel_topology: SentinelTopology, tmp_path: Path, capsys) -> None:
    for node in (sentinel_topology.master, sentinel_topology.replica):  # ACLs are not replicated: both nodes
        node.client().execute_command("ACL", "SETUSER", LEAST_USER, "reset", "on", f">{LEAST_PASSWORD}",
                                      *least_privilege_rule().split())
    set_sentinel_user(sentinel_topology, sentinel_rule())
    env = sentinel_env(sentinel_topology)
    admin = sentinel_topology.master.client()
    seed(admin)
    for name, run in steps(admin, tmp_path / "bans.jsonl"):
        assert run(env) == 0, name
    assert denials(admin) == [EXPECTED_DENIAL]
    assert sentinel_denials(sentinel_topology) == set()
    outcomes = {}
    for removed in SENTINEL_LEAST_COMMANDS:
        set_sentinel_user(sentinel_topology, sentinel_rule(without=removed))
        codes = {name: run(env) for name, run in steps(admin, tmp_path / "bans.jsonl")[:4]}
        denied = ("command", removed) in sentinel_denials(sentinel_topology)
        outcomes[removed] = (sorted(name for name, code in codes.items() if code), denied)
    assert all(denied for _, denied in outcomes.values()), outcomes  # every one is sent
    required = {command for command, (failed, _) in outcomes.items() if failed}
    assert required == set(SENTINEL_REQUIRED), outcomes
    figures.record("acl_commands_proven", len(required))
    capsys.readouterr()


def test_the_documented_recipe_is_the_tested_rule() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "least-privilege.md").read_text()
    assert f"ACL SETUSER redissync on >CHANGE-ME {least_privilege_rule()}\n" in doc
    assert f"user redissync on >CHANGE-ME {least_privilege_rule()}\n" in doc
    assert f"ACL SETUSER redissync-sentinel on >CHANGE-ME-TOO {sentinel_rule()}\n" in doc
    assert f"{len(LEAST_PRIVILEGE_COMMANDS)} commands" in doc
