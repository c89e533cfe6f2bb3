"""The confs/http templates over a matrix of settings: what Lua will read equals the Python reference
(luaopts), numbers follow the units rule exactly like Settings, pools never mix configurations, and
secrets appear only where Lua must read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core_redis import CORE_REDIS_1616_JSON, install_core_redis
from harness.luadata import load
from harness.templator import bunkerweb_context, render
from redissync.settings import UNITS_SECONDS
from tests.confs.luaopts import credentials_digest
from tests.confs.rendering import Rendered, render_case

NASTY_PASSWORD = 'p"a\\ss]]--[[ é %s \t'
SENTINELS = "127.0.0.1:26380 [::1]:26381 sentinel.example"

MATRIX: dict[str, dict[str, str]] = {
    "standalone": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example"},
    "password": {"USE_REDIS": "yes", "REDIS_HOST": "10.0.0.5", "REDIS_PASSWORD": "Pw-1"},
    "acl": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_USERNAME": "bw", "REDIS_PASSWORD": "Pw-2"},
    "tls-verify": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_SSL": "yes"},
    "tls-noverify": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_SSL": "yes", "REDIS_SSL_VERIFY": "no"},
    "tls-ip": {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_SSL": "yes"},
    "ipv6": {"USE_REDIS": "yes", "REDIS_HOST": "::1", "REDIS_SSL": "yes", "REDIS_PORT": "6380"},
    "tuned": {
        "USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_DATABASE": "7", "REDIS_TIMEOUT": "250ms",
        "REDIS_KEEPALIVE_IDLE": "0", "REDIS_KEEPALIVE_POOL": "20",
    },
    "nasty-secret": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_PASSWORD": NASTY_PASSWORD},
    "sentinel": {
        "USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": SENTINELS, "REDIS_SENTINEL_MASTER": "bw-master",
        "REDIS_SENTINEL_USERNAME": "sent", "REDIS_SENTINEL_PASSWORD": "Sent-Pw", "REDIS_PASSWORD": "Data-Pw",
        "REDIS_SSL": "yes", "REDIS_DATABASE": "2",
    },
    "sentinel-empty-master": {"USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": "127.0.0.1", "REDIS_SENTINEL_MASTER": ""},
}
# Millisecond mode: BunkerWeb's core redis plugin owns the names (its defaults: 1000 ms, 30000 ms, pool 10).
MS_MATRIX: dict[str, dict[str, str]] = {
    "ms-defaults": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example"},
    "ms-explicit": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_TIMEOUT": "1500",
                    "REDIS_KEEPALIVE_IDLE": "45000", "REDIS_KEEPALIVE_POOL": "4"},
    "ms-one-millisecond": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_TIMEOUT": "1"},
    "ms-suffixes": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_TIMEOUT": "2m", "REDIS_KEEPALIVE_IDLE": "1d"},
    "ms-sentinel": {"USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": SENTINELS, "REDIS_TIMEOUT": "250"},
}

# BunkerWeb 1.6.16's core redis plugin.json: defaults 1s, 30s, pool 64; suffixes or bare milliseconds.
V1616_MATRIX: dict[str, dict[str, str]] = {
    "1616-defaults": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example"},
    "1616-bare-ms": {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_TIMEOUT": "1500", "REDIS_KEEPALIVE_IDLE": "0"},
    "1616-sentinel": {"USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": SENTINELS, "REDIS_TIMEOUT": "250ms",
                      "REDIS_KEEPALIVE_IDLE": "1h"},
}
ALL_CASES = {**MATRIX, **MS_MATRIX, **V1616_MATRIX}


def core_dir_for(name: str, root: Path) -> Path | None:
    """The BunkerWeb core dir a named case renders with (None: outside BunkerWeb)."""
    if name in MS_MATRIX:
        return install_core_redis(root / "core")
    return install_core_redis(root / "core", CORE_REDIS_1616_JSON) if name in V1616_MATRIX else None


@pytest.fixture(params=list(ALL_CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Rendered:
    return render_case(ALL_CASES[request.param], tmp_path / "http", core_dir_for(request.param, tmp_path))


def test_rendered_options_equal_the_python_reference(case: Rendered) -> None:
    assert case.options == case.expected


def test_numbers_follow_the_units_rule_like_settings(case: Rendered) -> None:
    connector = case.options["connector"]
    for name in ("connect_timeout", "send_timeout", "read_timeout"):
        assert connector[name] == case.settings.timeout_ms
    assert connector["keepalive_timeout"] == case.settings.keepalive_idle_ms
    assert connector["keepalive_poolsize"] == connector["connection_options"]["pool_size"] == case.settings.keepalive_pool
    assert case.options["units"] == ("seconds" if case.settings.units == UNITS_SECONDS else "milliseconds")


def test_units_in_millisecond_mode(tmp_path: Path) -> None:
    core = install_core_redis(tmp_path / "core")
    defaults = render_case(MS_MATRIX["ms-defaults"], tmp_path / "a", core).options
    assert (defaults["units"], defaults["connector"]["read_timeout"]) == ("milliseconds", 1000)
    assert (defaults["connector"]["keepalive_timeout"], defaults["connector"]["keepalive_poolsize"]) == (30000, 10)
    explicit = render_case(MS_MATRIX["ms-explicit"], tmp_path / "b", core).options["connector"]
    assert (explicit["connect_timeout"], explicit["keepalive_timeout"]) == (1500, 45000)
    seconds = render_case({**MS_MATRIX["ms-explicit"], "REDIS_TIMEOUT": "2"}, tmp_path / "c").options["connector"]
    assert (seconds["connect_timeout"], seconds["keepalive_timeout"]) == (2000, 45_000_000)


def test_bunkerweb_1616_defaults_render_as_bunkerweb_reads_them(tmp_path: Path) -> None:
    core = install_core_redis(tmp_path / "core", CORE_REDIS_1616_JSON)
    connector = render_case(V1616_MATRIX["1616-defaults"], tmp_path / "a", core).options["connector"]
    assert (connector["read_timeout"], connector["keepalive_timeout"], connector["keepalive_poolsize"]) == (1000, 30000, 64)


def test_tls_server_name_is_the_host_unless_an_ip(tmp_path: Path) -> None:
    verify = render_case(MATRIX["tls-verify"], tmp_path / "a").options["connector"]["connection_options"]
    assert verify == {**verify, "ssl": True, "ssl_verify": True, "server_name": "redis.example"}
    noverify = render_case(MATRIX["tls-noverify"], tmp_path / "b").options["connector"]["connection_options"]
    assert (noverify["ssl_verify"], noverify["server_name"]) == (False, "redis.example")
    for name in ("tls-ip", "ipv6"):
        options = render_case(MATRIX[name], tmp_path / name).options["connector"]
        assert "server_name" not in options["connection_options"]
    assert render_case(MATRIX["ipv6"], tmp_path / "v6").options["connector"]["host"] == "[::1]"
    plain = render_case(MATRIX["standalone"], tmp_path / "c").options["connector"]["connection_options"]
    assert (plain["ssl"], plain["ssl_verify"], "server_name" in plain) == (False, False, False)


def test_pool_names_change_with_everything_that_changes_a_connection(tmp_path: Path) -> None:
    base = {"USE_REDIS": "yes", "REDIS_HOST": "redis.example", "REDIS_USERNAME": "bw", "REDIS_PASSWORD": "one"}
    variants = [
        base,
        {**base, "REDIS_PASSWORD": "two"},
        {**base, "REDIS_USERNAME": "other"},
        {**base, "REDIS_DATABASE": "1"},
        {**base, "REDIS_PORT": "6380"},
        {**base, "REDIS_HOST": "redis2.example"},
        {**base, "REDIS_SSL": "yes"},
        {**base, "REDIS_SSL": "yes", "REDIS_SSL_VERIFY": "no"},
    ]
    pools = [render_case(env, tmp_path / str(i)).options["connector"]["connection_options"]["pool"]
             for i, env in enumerate(variants)]
    assert len(set(pools)) == len(pools)
    assert pools[0] == f"redissync:redis:plain:redis.example:6379:0:{credentials_digest('bw', 'one')}"


def test_sentinel_entries_carry_their_own_pool_tls_and_credentials(tmp_path: Path) -> None:
    options = render_case(MATRIX["sentinel"], tmp_path).options
    connector = options["connector"]
    assert (options["mode"], connector["master_name"], connector["role"], connector["db"]) == ("sentinel", "bw-master",
                                                                                           "master", 2)
    hosts = [(s["host"], s["port"], s.get("connection_options", {}).get("server_name")) for s in connector["sentinels"]]
    assert hosts == [("127.0.0.1", 26380, None), ("[::1]", 26381, None), ("sentinel.example", 26379, "sentinel.example")]
    assert all((s["username"], s["password"]) == ("sent", "Sent-Pw") for s in connector["sentinels"])
    pools = {s["connection_options"]["pool"] for s in connector["sentinels"]}
    assert len(pools) == 3
    assert all(p.startswith("redissync:sentinel:rediss:verify:") for p in pools)
    # No fixed pool for the master: it is named per discovered address (a failover changes it).
    assert "pool" not in connector["connection_options"]
    assert options["master_pool"].startswith("redissync:rediss:verify:{host}:{port}:2:")
    assert options["target"] == "master 'bw-master' via sentinels 127.0.0.1:26380 [::1]:26381 sentinel.example:26379"


def test_secrets_only_where_lua_reads_them(case: Rendered) -> None:
    secrets = {case.settings.password, case.settings.sentinel_password} - {""}
    for line in case.options_text.splitlines():
        if any(secret in line for secret in secrets) or any(_lua_escaped(s) in line for s in secrets):
            assert line.strip().startswith(("password = ", "sentinel_password = ")), line
    assert not any(secret in case.snippet_text for secret in secrets)


def _lua_escaped(secret: str) -> str:
    return secret.replace("\\", "\\\\").replace('"', '\\"')


def test_the_nginx_snippet_sets_no_directive_bunkerweb_owns(case: Rendered) -> None:
    directives = [line.split()[0] for line in case.snippet_text.splitlines() if line.strip() and not line.startswith("#")]
    assert directives == []


def test_disabled_renders_nothing_to_use(tmp_path: Path) -> None:
    rendered = render_case({"USE_REDIS": "no", "REDIS_HOST": "redis.example"}, tmp_path)
    assert rendered.options == {"enabled": False} == rendered.expected
    assert rendered.snippet_text == ""


def test_missing_host_renders_an_error_for_lua() -> None:
    options = load(render("http/redissync-options.lua", bunkerweb_context({"USE_REDIS": "yes"})))
    assert options["error"] == "REDIS_HOST is empty and REDIS_SENTINEL_HOSTS is not set"


def test_the_prometheus_listener_is_off_by_default_and_no_value_adds_a_directive() -> None:
    from harness.templator import bunkerweb_context, render

    def listener(**env: str) -> str:
        return render("http/redissync-prometheus.conf", bunkerweb_context({"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", **env}))

    assert listener().strip() == ""
    assert listener(REDISSYNC_PROMETHEUS_LISTEN="9114", USE_REDISSYNC="no").strip() == ""
    text = listener(REDISSYNC_PROMETHEUS_LISTEN="9114", REDISSYNC_PROMETHEUS_ALLOW_IP="10.0.0.0/8 ::1 all; 1.2.3.4;include")
    assert "listen 9114;" in text
    allowed = [line.strip() for line in text.splitlines() if line.strip().startswith(("allow", "deny", "include"))]
    assert allowed == ["allow 10.0.0.0/8;", "allow ::1;", "deny all;"]  # what plugin.json's regex refuses never renders


def test_cluster_mode_renders_every_seed_node_like_the_python_reference(tmp_path: Path) -> None:
    """Each seed in its own pool (TLS server_name for a DNS name, none for an IP), IPv6 bracketed, 6379 by default."""
    env = {"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "10.0.0.1:7000 [fd00::2]:7001 redis-2", "REDIS_SSL": "yes",
           "REDIS_USERNAME": "u", "REDIS_PASSWORD": "p"}
    rendered = render_case(env, tmp_path)
    assert rendered.options == rendered.expected
    assert (rendered.options["mode"], rendered.options["target"]) == ("cluster", "TLS cluster via seed nodes 10.0.0.1:7000 "
                                                                      "[fd00::2]:7001 redis-2:6379")
    nodes = rendered.options["nodes"]
    assert [(node["host"], node["port"]) for node in nodes] == [("10.0.0.1", 7000), ("[fd00::2]", 7001), ("redis-2", 6379)]
    assert [node["connection_options"].get("server_name") for node in nodes] == [None, None, "redis-2"]
    assert len({node["connection_options"]["pool"] for node in nodes}) == 3
    assert "error" not in rendered.options


@pytest.mark.parametrize(("extra", "sentence"), [
    ({"REDIS_SENTINEL_HOSTS": "s1"}, "REDIS_CLUSTER_NODES and REDIS_SENTINEL_HOSTS are both set, remove one"),
    ({"REDIS_DATABASE": "2"}, "REDIS_CLUSTER_NODES requires REDIS_DATABASE 0 (got 2)"),
])
def test_cluster_mode_refuses_what_bunkerweb_refuses_in_its_words(extra: dict[str, str], sentence: str) -> None:
    """rediskeys.lua cluster_config_error: Lua then reads the refusal instead of connecting (the jobs say the same)."""
    options = load(render("http/redissync-options.lua", bunkerweb_context({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "n1", **extra})))
    assert (options["mode"], options["error"]) == ("cluster", sentence)
