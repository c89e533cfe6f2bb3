"""The settings model: the seed table's regexes, cross-field rules, units by ownership, our switches, masking."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from redissync.settings import (
    UNITS_CORE_MS,
    UNITS_SECONDS,
    Address,
    SettingsError,
    load_settings,
    own_setting_definitions,
    redis_setting_definitions,
)

DATA = Path(__file__).resolve().parents[1] / "data"

# Accepted and rejected values per setting: the contract our regexes must honour.
CASES: dict[str, tuple[list[str], list[str]]] = {
    "USE_REDIS": (["yes", "no"], ["", "YES", "true", "yes ", "1"]),
    "REDIS_SSL": (["yes", "no"], ["", "on", "no "]),
    "REDIS_SSL_VERIFY": (["yes", "no"], ["Yes", "n"]),
    "REDIS_HOST": (
        ["", "redis", "redis.example.com", "bw_redis", "127.0.0.1", "10.0.0.254", "::1", "fe80::1",
         "2001:db8::8a2e:370:7334", "redis-1.internal.", "a" * 63],
        ["redis://host", "host:6379", "a b", "/var/run/redis.sock", "999.1.1.1", "1.2.3", "[::1]", ":::1",
         "-redis", "redis-", "a" * 64, "host/x", "ho st", "2001:db8::g"],
    ),
    "REDIS_PORT": (["1", "6379", "65535", "26379"], ["0", "65536", "", "-1", "6379a", "06379", "99999"]),
    "REDIS_DATABASE": (["0", "9", "15"], ["16", "-1", "", "01", "a"]),
    "REDIS_TIMEOUT": (["5", "1000", "1s", "500ms", "2m", "1h", "1d", "1w", "1M", "1y", "01"],
                      ["0", "0s", "0.5", "1.5s", "", "-1", "1h30m", ".5", "5.", "1e3", "abc", "1S", "1 s"]),
    "REDIS_KEEPALIVE_IDLE": (["0", "0s", "300", "30000", "30s", "1d"], ["", "-1", "1.5", "1.5s", "1h30m", "x"]),
    "REDIS_KEEPALIVE_POOL": (["1", "3", "100"], ["0", "", "-2", "1.5", "01"]),
    "REDIS_USERNAME": (["", "bunkerweb", "user@x"], ["a b", "tab\tuser"]),
    "REDIS_SENTINEL_USERNAME": (["", "sentinel-admin"], ["a b"]),
    "REDIS_SENTINEL_MASTER": (["mymaster", "bw-master"], ["", "my master"]),
    "REDIS_PASSWORD": (["", "any thing !@#$%^&*() \\ \" '"], []),
    "REDIS_SENTINEL_PASSWORD": (["", "p w"], []),
    "REDIS_SENTINEL_HOSTS": (
        ["", "s1", "s1:26379", "s1:26379 s2:26380 10.0.0.3", "[::1]:26379", "[fe80::1]", "sentinel.example.com:1"],
        ["s1 ", " s1", "s1  s2", "s1:0", "s1:65536", "::1:26379", "http://s1", "s1,s2", "s1:abc"],
    ),
    "REDIS_CLUSTER_NODES": (  # BunkerWeb's form (rediskeys.lua, 1.6.16~rc3): host, host:port, [ipv6]:port, space separated
        ["", "n1", "n1:7000 n2:7001 10.0.0.3", "[::1]:7000", "[fe80::1]", "redis-0.redis.svc.cluster.local:6379"],
        ["n1 ", "n1  n2", "n1:0", "n1:65536", "::1:7000", "redis://n1", "n1,n2", "n1:abc", "[::1"],
    ),
}


CASES |= {name: (["yes", "no"], ["", "YES", "no "]) for name, own in own_setting_definitions().items() if own["type"] == "check"}
CASES |= {
    "REDISSYNC_PROMETHEUS_LISTEN": (["", "9114", "0.0.0.0:9114", "127.0.0.1:65535", "[::]:9114", "[::1]:1"],
                                    ["0", "65536", "9114;", "9114 ", "a:9114", "1.2.3.4:", "1.2.3.4:70000", "256.1.1.1:80",
                                     "9114; include /etc/passwd", "localhost:9114", "yes"]),
    "REDISSYNC_PROMETHEUS_ALLOW_IP": (["", "127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16", "::1", "fd00::/8 10.1.2.3",
                                       "2001:db8::1/128", "192.168.1.7"],
                                      ["all", "10.0.0.0/33", "1.2.3.4;", "1.2.3.4/8; deny", "localhost", "300.1.1.1",
                                       "2001:db8::1/129"]),
}


def definition(name: str) -> dict:
    return {**redis_setting_definitions(), **own_setting_definitions()}[name]


def test_cases_cover_every_setting() -> None:
    assert set(CASES) == set(redis_setting_definitions()) | set(own_setting_definitions())


@pytest.mark.parametrize("name", sorted(CASES))
def test_python_regex_accepts_and_rejects(name: str) -> None:
    regex = definition(name)["regex"]
    accepted, rejected = CASES[name]
    assert [v for v in accepted if not re.search(regex, v)] == []
    assert [v for v in rejected if re.search(regex, v)] == []


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to check the browser's regex engine")
def test_browser_regex_engines_agree() -> None:
    """The UI validates with ``new RegExp(p)`` and the HTML pattern attribute (``v`` flag): same verdicts."""
    cases = {name: {"regex": definition(name)["regex"], "accepted": a, "rejected": r}
             for name, (a, r) in CASES.items()}
    script = """
    const cases = JSON.parse(require('fs').readFileSync(0, 'utf8')); const bad = [];
    for (const [name, c] of Object.entries(cases)) for (const flags of ['', 'v']) {
      let rx; try { rx = new RegExp(c.regex, flags); } catch (e) { bad.push(`${name}/${flags}: ${e.message}`); continue; }
      for (const v of c.accepted) if (!rx.test(v)) bad.push(`${name}/${flags} rejects ${JSON.stringify(v)}`);
      for (const v of c.rejected) if (rx.test(v)) bad.push(`${name}/${flags} accepts ${JSON.stringify(v)}`);
    }
    console.log(JSON.stringify(bad));"""
    result = subprocess.run(["node", "-e", script], input=json.dumps(cases), capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_every_default_matches_its_own_regex() -> None:
    for name, definition in redis_setting_definitions().items():
        assert re.search(definition["regex"], definition["default"]), name


def test_defaults_are_the_spec_table() -> None:
    defaults = {name: d["default"] for name, d in redis_setting_definitions().items()}
    assert defaults == {
        "USE_REDIS": "no", "REDIS_HOST": "", "REDIS_PORT": "6379", "REDIS_DATABASE": "0", "REDIS_SSL": "no",
        "REDIS_SSL_VERIFY": "yes", "REDIS_TIMEOUT": "5", "REDIS_USERNAME": "", "REDIS_PASSWORD": "",
        "REDIS_SENTINEL_HOSTS": "", "REDIS_SENTINEL_USERNAME": "", "REDIS_SENTINEL_PASSWORD": "",
        "REDIS_SENTINEL_MASTER": "mymaster", "REDIS_CLUSTER_NODES": "", "REDIS_KEEPALIVE_IDLE": "300", "REDIS_KEEPALIVE_POOL": "3",
    }


def test_empty_environment_is_disabled_with_spec_defaults() -> None:
    settings = load_settings({})
    assert not settings.enabled
    assert (settings.port, settings.database, settings.timeout, settings.keepalive_idle, settings.keepalive_pool) == (
        6379, 0, 5.0, 300.0, 3)
    assert settings.units == UNITS_SECONDS


def test_typed_standalone_configuration() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "redis.example.com", "REDIS_PORT": "6380",
                              "REDIS_DATABASE": "3", "REDIS_TIMEOUT": "500ms", "REDIS_SSL": "yes",
                              "REDIS_USERNAME": "bw", "REDIS_PASSWORD": "pw"})
    assert settings.enabled
    assert settings.ssl
    assert settings.ssl_verify
    assert (settings.host, settings.port, settings.database, settings.timeout) == ("redis.example.com", 6380, 3, 0.5)
    assert settings.mode == "standalone"
    assert settings.timeout_ms == 500


def test_sentinel_hosts_parsed_with_default_port_and_ipv6() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": "s1 s2:26380 [::1]:26381 [fe80::2]"})
    assert settings.sentinels == (Address("s1", 26379), Address("s2", 26380),
                                  Address("::1", 26381), Address("fe80::2", 26379))
    assert settings.mode == "sentinel"
    assert str(settings.sentinels[2]) == "[::1]:26381"


def test_all_problems_reported_at_once_naming_setting_and_form() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "maybe", "REDIS_PORT": "70000", "REDIS_DATABASE": "16", "REDIS_TIMEOUT": "0"})
    lines = str(caught.value).splitlines()
    assert [p.setting for p in caught.value.problems] == ["USE_REDIS", "REDIS_PORT", "REDIS_DATABASE", "REDIS_TIMEOUT"]
    assert lines[1] == "REDIS_PORT='70000' is invalid: expected TCP port of the Redis server (1-65535)"
    assert "0-15" in lines[2]
    assert "a whole number from 1 with an optional unit" in lines[3]
    assert "milliseconds inside BunkerWeb" in lines[3]


def test_secret_values_are_masked_in_errors() -> None:
    secret = "Hunter2-Distinctive-Secret"
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_PASSWORD": secret + "\nsecond line"})
    assert "REDIS_PASSWORD" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value.problems)


def test_trailing_newline_rejected_although_re_search_would_accept_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes\n", "REDIS_HOST": "h"})
    assert caught.value.problems[0].setting == "USE_REDIS"


def test_settings_repr_hides_passwords() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_PASSWORD": "pw-abc-123",
                              "REDIS_SENTINEL_PASSWORD": "spw-xyz-789"})
    assert "pw-abc-123" not in repr(settings)
    assert "spw-xyz-789" not in repr(settings)
    assert "pw-abc-123" not in json.dumps(settings.public())


def test_enabled_needs_host_or_sentinels() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes"})
    assert caught.value.problems[0].setting == "REDIS_HOST"
    assert "REDIS_SENTINEL_HOSTS" in str(caught.value)
    assert load_settings({"USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": "s1"}).mode == "sentinel"


def test_verify_without_ssl_is_a_warning_not_an_error(core_redis_installed: Path) -> None:
    """Asked for (the core plugin's default is no) but TLS is off: the user believes they are protected."""
    settings = load_settings({"REDISSYNC_BW_CORE_DIR": str(core_redis_installed), "USE_REDIS": "yes",
                              "REDIS_HOST": "h", "REDIS_SSL": "no", "REDIS_SSL_VERIFY": "yes"})
    assert any("REDIS_SSL_VERIFY" in warning for warning in settings.warnings)


def test_default_verify_without_ssl_is_quiet() -> None:
    assert load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_SSL_VERIFY": "yes"}).warnings == ()


def test_empty_master_with_sentinels_falls_back_with_a_notice() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": "s1", "REDIS_SENTINEL_MASTER": ""})
    assert settings.sentinel_master == "mymaster"
    assert any("REDIS_SENTINEL_MASTER" in notice for notice in settings.notices)


@pytest.fixture
def core_redis_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    core = tmp_path / "core"
    (core / "redis").mkdir(parents=True)
    shutil.copy(DATA / "plugin-json" / "core" / "redis.json", core / "redis" / "plugin.json")
    monkeypatch.setenv("REDISSYNC_BW_CORE_DIR", str(core))
    return core


def test_core_plugin_owns_units_in_milliseconds(core_redis_installed: Path) -> None:
    env = {"REDISSYNC_BW_CORE_DIR": str(core_redis_installed), "USE_REDIS": "yes", "REDIS_HOST": "h",
           "REDIS_TIMEOUT": "1500", "REDIS_KEEPALIVE_IDLE": "30000"}
    settings = load_settings(env)
    assert settings.units == UNITS_CORE_MS
    assert (settings.timeout, settings.keepalive_idle) == (1.5, 30.0)
    assert settings.timeout_ms == 1500
    assert settings.keepalive_idle_ms == 30000


def test_core_plugin_defaults_apply_when_unset(core_redis_installed: Path) -> None:
    settings = load_settings({"REDISSYNC_BW_CORE_DIR": str(core_redis_installed), "USE_REDIS": "yes",
                              "REDIS_HOST": "h"})
    assert (settings.timeout, settings.keepalive_idle, settings.keepalive_pool) == (1.0, 30.0, 10)


def test_seconds_rule_without_core(tmp_path: Path) -> None:
    settings = load_settings({"REDISSYNC_BW_CORE_DIR": str(tmp_path), "USE_REDIS": "yes", "REDIS_HOST": "h",
                              "REDIS_TIMEOUT": "3", "REDIS_KEEPALIVE_IDLE": "60"})
    assert (settings.units, settings.timeout, settings.keepalive_idle) == (UNITS_SECONDS, 3.0, 60.0)


def test_own_switches_default_to_todays_behaviour_and_can_be_turned_off() -> None:
    settings = load_settings({})
    assert (settings.use_redissync, settings.restore_bans, settings.unban_clears_bad_behavior) == (True, True, True)
    off = load_settings({"USE_REDISSYNC": "no", "REDISSYNC_RESTORE_BANS": "no", "REDISSYNC_UNBAN_CLEARS_BAD_BEHAVIOR": "no"})
    assert (off.use_redissync, off.restore_bans, off.unban_clears_bad_behavior) == (False, False, False)
    with pytest.raises(SettingsError) as caught:
        load_settings({"REDISSYNC_RESTORE_BANS": "false"})
    assert str(caught.value) == "REDISSYNC_RESTORE_BANS='false' is invalid: expected " + \
        own_setting_definitions()["REDISSYNC_RESTORE_BANS"]["help"].rstrip(".")


@pytest.mark.parametrize(("name", "value"), [("REDIS_DATABASE", "16"), ("REDIS_HOST", "redis://cache"),
                                             ("REDIS_PORT", "99999"), ("REDIS_SENTINEL_HOSTS", "http://s1")])
def test_values_core_accepts_but_we_reject_name_the_setting(core_redis_installed: Path, name: str, value: str) -> None:
    core_regex = json.loads((core_redis_installed / "redis" / "plugin.json").read_text())["settings"][name]["regex"]
    assert re.search(core_regex, value), "BunkerWeb itself accepts this value"
    with pytest.raises(SettingsError) as caught:
        load_settings({"REDISSYNC_BW_CORE_DIR": str(core_redis_installed), "USE_REDIS": "yes", "REDIS_HOST": "h",
                       name: value})
    assert [problem.setting for problem in caught.value.problems] == [name]


def test_durations_are_quoted_in_the_owners_unit(core_redis_installed: Path) -> None:
    inside = load_settings({"REDISSYNC_BW_CORE_DIR": str(core_redis_installed), "USE_REDIS": "yes", "REDIS_HOST": "h",
                            "REDIS_TIMEOUT": "1500"})
    assert inside.as_configured(inside.timeout) == "1500 ms"
    assert inside.in_milliseconds
    outside = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_TIMEOUT": "1500ms"})
    assert outside.as_configured(outside.timeout) == "1.5 s"
    assert not outside.in_milliseconds


@pytest.mark.parametrize("name", ["REDISSYNC_PROMETHEUS_LISTEN", "REDISSYNC_PROMETHEUS_ALLOW_IP"])
def test_the_listener_regexes_stay_linear_on_hostile_values(name: str) -> None:
    """BunkerWeb checks every saved value with ``re.search`` in its scheduler and UI: no value may make that hang
    ('a:a:…' once took minutes: adjacent IPv6 items could be split in exponentially many ways)."""
    regex = re.compile(definition(name)["regex"])
    for hostile in ("a:" * 3000 + "/", "1:" * 3000, "::" * 3000 + "x", " " * 5000 + "x", "1.1.1.1 " * 1000 + "x", "ff:" * 2000 + "g"):
        started = time.perf_counter()
        assert not regex.search(hostile)
        assert time.perf_counter() - started < 0.5, hostile[:20]
