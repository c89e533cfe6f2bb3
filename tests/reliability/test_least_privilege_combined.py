"""One ACL user for a whole BunkerWeb cluster: BunkerWeb's Lua, web UI and bwcli plus all of redissync.

1. The table of what BunkerWeb sends (harness/bunkerweb_redis.py) is what the rule's BunkerWeb part is made of.
2. Every command and script of that table passes as the combined user; the redissync-only user refuses
   bad-behaviour's script exactly as administrators saw it (``incr`` in ACL LOG).
3. Every job and bwcli command of redissync, and redissync.lua's endpoints in a real nginx, pass under the
   combined rule, with the one documented denial (the diagnosis' CONFIG GET).
4. Each key pattern and command BunkerWeb adds is needed: without it, an entry of the table is refused and ACL LOG
   names it.
5. What the docs say about ``@dangerous``, checked against the running server's own categories.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import redis

from harness.acl import (
    BUNKERWEB_COMMANDS,
    BUNKERWEB_KEYS,
    COMBINED_PASSWORD,
    COMBINED_USER,
    FULL_PASSWORD,
    FULL_USER,
    LEAST_PASSWORD,
    LEAST_PRIVILEGE_COMMANDS,
    LEAST_PRIVILEGE_KEYS,
    LEAST_USER,
    acl_lines,
    combined_rule,
    least_privilege_rule,
)
from harness.bunkerweb_redis import SENT, Sent, bunkerweb_commands, bunkerweb_keys
from harness.servers import RedisServer
from tests.confs.conftest import call, dns, lua_nginx  # noqa: F401  (fixtures for redissync.lua)
from tests.reliability.test_least_privilege import EXPECTED_DENIAL, denials, first_failure

DOC = Path(__file__).resolve().parents[2] / "docs" / "least-privilege.md"
# What the docs state: the @dangerous commands each rule grants (Redis tags INFO and ROLE so because they reveal
# server facts, KEYS because it blocks the server on a large keyspace), and that ROLE is the only @admin one.
DANGEROUS_GRANTED = {"redissync": {"info", "role"}, "combined": {"info", "keys", "role"}}
PERMISSION_MARKERS = ("NOPERM", "can't run this command", "no permissions")


def set_user(server: RedisServer, user: str, password: str, rule: str) -> None:
    server.client().execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}", *rule.split())


def refusals(server: RedisServer, user: str, password: str) -> dict[str, str]:
    """Send every entry of the table as ``user``; the permission errors by entry (source + command)."""
    client = server.client(username=user, password=password)
    refused, other = {}, {}
    for sent in SENT:
        try:
            client.execute_command(*sent.wire())
        except redis.ResponseError as error:
            text = str(error)
            target = refused if any(marker.lower() in text.lower() for marker in PERMISSION_MARKERS) else other  # 7.4: "No permissions
            target[f"{sent.source}: {_name(sent)}"] = text
    client.close()
    assert all(entry.endswith(": DISCARD") for entry in other), other  # DISCARD outside MULTI: allowed, then refused
    return refused


def _name(sent: Sent) -> str:
    return f"EVAL ({' '.join(sent.inner)})" if sent.script else sent.command[0]


@pytest.fixture
def cluster_redis(make_redis) -> RedisServer:
    server = make_redis(acl_lines=acl_lines(), admin_username=FULL_USER, admin_password=FULL_PASSWORD)
    # As the docs say: on Redis 7.2+ (and Valkey), +client|setinfo for BunkerWeb's own redis-py; 7.0 rejects it.
    version = tuple(int(part) for part in server.client().info("server")["redis_version"].split(".")[:2])
    knows_setinfo = version >= (7, 2)  # Valkey's fixed redis_version 7.2.4 included
    set_user(server, COMBINED_USER, COMBINED_PASSWORD, combined_rule() + (" +client|setinfo" if knows_setinfo else ""))
    return server


# -- 1. the table ---------------------------------------------------------------------------------------------
def test_the_rules_bunkerweb_part_is_exactly_what_the_table_sends() -> None:
    for sent in SENT:
        if sent.script:
            called = {name.lower() for name in re.findall(r"redis\.call\('([A-Z]+)'", sent.script)}
            assert called == {c.lower() for c in sent.inner}, sent.source
    assert bunkerweb_commands() - set(LEAST_PRIVILEGE_COMMANDS) == set(BUNKERWEB_COMMANDS)
    patterns = [p[1:] for p in (*LEAST_PRIVILEGE_KEYS, *BUNKERWEB_KEYS)]
    unmatched = [key for key in bunkerweb_keys() if not any(fnmatchcase(key, p) for p in patterns)]
    assert unmatched == []
    for pattern in BUNKERWEB_KEYS:
        assert any(fnmatchcase(key, pattern[1:]) for key in bunkerweb_keys()), pattern


# -- 2. BunkerWeb as the combined user, and as the redissync-only user ---------------------------------------------
def test_everything_bunkerweb_sends_passes_as_the_combined_user(cluster_redis: RedisServer) -> None:
    assert refusals(cluster_redis, COMBINED_USER, COMBINED_PASSWORD) == {}
    assert denials(cluster_redis.client()) == []


def test_the_redissync_only_rule_refuses_bunkerwebs_bad_behaviour_script(cluster_redis: RedisServer) -> None:
    refused = refusals(cluster_redis, LEAST_USER, LEAST_PASSWORD)
    bad_behaviour = [text for entry, text in refused.items() if "redis_increase" in entry]
    assert bad_behaviour, refused
    # 7.0: "…can't run this command…"; 7.4: "…has no permissions to run the 'incr' command…"
    assert all("can't run this command" in text or "permissions to run the 'incr' command" in text for text in bad_behaviour), refused
    assert ("command", "incr") in denials(cluster_redis.client())


# -- 3. redissync as the combined user ------------------------------------------------------------------------------
def test_every_redissync_job_and_command_passes_under_the_combined_rule(cluster_redis: RedisServer, tmp_path: Path,
                                                                      capsys) -> None:
    env = cluster_redis.settings_env(REDIS_USERNAME=COMBINED_USER, REDIS_PASSWORD=COMBINED_PASSWORD)
    assert first_failure(cluster_redis, env, tmp_path / "bans.jsonl") is None
    assert denials(cluster_redis.client()) == [EXPECTED_DENIAL]
    capsys.readouterr()


@pytest.mark.nginx
def test_redissync_lua_under_the_combined_rule(cluster_redis: RedisServer, lua_nginx) -> None:  # noqa: F811
    env = cluster_redis.settings_env(REDIS_USERNAME=COMBINED_USER, REDIS_PASSWORD=COMBINED_PASSWORD)
    server, _ = lua_nginx(env)
    assert call(server, "POST", "/redissync/ping")[0] == 200
    assert call(server, "GET", "/redissync/stats")[0] == 200
    assert denials(cluster_redis.client()) == []


# -- 4. each BunkerWeb addition is needed ---------------------------------------------------------------------------
def test_each_pattern_and_command_bunkerweb_adds_is_needed(cluster_redis: RedisServer) -> None:
    admin = cluster_redis.client()
    unneeded = []
    for removed in (*BUNKERWEB_KEYS, *BUNKERWEB_COMMANDS):
        admin.execute_command("ACL", "LOG", "RESET")
        set_user(cluster_redis, COMBINED_USER, COMBINED_PASSWORD, combined_rule(without=removed))
        refused = refusals(cluster_redis, COMBINED_USER, COMBINED_PASSWORD)
        logged = denials(admin)
        if removed.startswith("~"):
            named = any(reason == "key" and fnmatchcase(obj, removed[1:]) for reason, obj in logged)
        else:
            named = ("command", removed) in logged
        if not (refused and named):
            unneeded.append(removed)
    assert unneeded == []


# -- 5. the @dangerous statement ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("rule_name", "commands"), [("redissync", LEAST_PRIVILEGE_COMMANDS),
                                                     ("combined", (*LEAST_PRIVILEGE_COMMANDS, *BUNKERWEB_COMMANDS))])
def test_what_the_docs_say_about_dangerous_commands_is_true(rule_name: str, commands: tuple[str, ...],
                                                            make_redis) -> None:
    admin = make_redis().client()
    dangerous = {name.decode() for name in admin.execute_command("ACL", "CAT", "dangerous")}
    administrative = {name.decode() for name in admin.execute_command("ACL", "CAT", "admin")}
    assert set(commands) & dangerous == DANGEROUS_GRANTED[rule_name]
    assert set(commands) & administrative == {"role"}


def test_the_documented_recipes_are_the_tested_rules() -> None:
    doc = DOC.read_text()
    assert f"ACL SETUSER bunkerweb on >CHANGE-ME {combined_rule()}\n" in doc
    assert f"user bunkerweb on >CHANGE-ME {combined_rule()}\n" in doc
    assert f"ACL SETUSER redissync on >CHANGE-ME {least_privilege_rule()}\n" in doc
    assert "`INFO` and `ROLE`" in doc
    assert "`KEYS`" in doc
