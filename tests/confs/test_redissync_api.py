"""redissync.lua's api() and init_worker() in a real nginx against real Redis: AUTH (ACL), SELECT, stats,
Sentinel discovery with per-address pools (across a failover), the one init_worker line, no secret in logs."""

from __future__ import annotations

import re

import pytest

from harness.acl import FULL_PASSWORD, FULL_USER, LEAST_PASSWORD, LEAST_USER, acl_lines
from harness.sentinel import DATA_PASSWORD, SENTINEL_PASSWORD
from harness.servers import REDIS_SERVER, free_port, server_version, wait_until
from tests.confs.conftest import call
from tests.confs.test_nginx_lua import recorded
from tests.redissync.diagnose.test_servers import CAPTURES, EXPECTED

pytestmark = pytest.mark.nginx


def init_worker_line(server) -> str:
    """The one line init_worker logs (bounded wait: it runs in a timer right after start)."""

    def line() -> str | None:
        lines = [x for x in server.log_text().splitlines() if "[REDISSYNC] Redis is" in x]
        return lines[0] if lines else None

    return wait_until(line, 15, "redissync's init_worker log line")


@pytest.fixture
def acl_tls_redis(make_redis, pki):
    return make_redis(name="tls", tls=pki.server(), acl_lines=acl_lines(), admin_username=FULL_USER,
                      admin_password=FULL_PASSWORD)


def test_auth_select_ping_and_stats_over_tls_with_an_acl_user(lua_nginx, acl_tls_redis) -> None:
    admin = acl_tls_redis.client(db=3)
    admin.set("bans_ip_192.0.2.1", "manual")
    admin.set("bans_ip_192.0.2.2", "manual")
    env = acl_tls_redis.settings_env(REDIS_HOST="localhost", REDIS_USERNAME=LEAST_USER,
                                     REDIS_PASSWORD=LEAST_PASSWORD, REDIS_DATABASE="3")
    server, rendered = lua_nginx(env)
    status, body = call(server, "POST", "/redissync/ping")
    assert (status, body["status"]) == (200, "success"), body
    ping = body["msg"]
    assert (ping["role"], ping["mode"], ping["target"]) == ("master", "standalone", f"rediss://localhost:{acl_tls_redis.port}/3")
    assert ping["latency_ms"] >= 0
    assert ping["connect_ms"] >= 0
    assert ping["clock"] == "monotonic"  # LuaJIT's FFI: finer than ngx.now()'s whole milliseconds
    latencies = [ping["latency_ms"]] + [call(server, "POST", "/redissync/ping")[1]["msg"]["latency_ms"] for _ in range(4)]
    assert all(0 < ms < 1000 for ms in latencies), latencies
    assert any(ms != int(ms) for ms in latencies), latencies
    status, body = call(server, "GET", "/redissync/stats")
    assert status == 200, body
    stats = body["msg"]
    assert stats["dbsize"] == 2  # SELECT 3 happened: db 0 is empty
    assert stats["role"] == "master"
    assert stats["server_mode"] == "standalone"
    assert stats["server"] == server_version(REDIS_SERVER)
    assert stats["server"].endswith(stats["version"])
    assert stats["used_memory"] > 0
    assert stats["used_memory_human"]
    clients = acl_tls_redis.client().client_list()
    assert any(c["user"] == LEAST_USER and c["db"] == "3" for c in clients)  # pooled, authenticated, selected
    assert all(config == rendered.options["connector"] for config in recorded(server)["configs"])


def test_wrong_password_fails_without_leaking_it(lua_nginx, acl_tls_redis) -> None:
    secret = "Not-The-Password-51c2"
    env = acl_tls_redis.settings_env(REDIS_HOST="localhost", REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=secret)
    server, _ = lua_nginx(env)
    status, body = call(server, "POST", "/redissync/ping")
    assert (status, body["status"]) == (500, "error")
    assert "WRONGPASS" in body["msg"]
    assert secret not in body["msg"]
    assert "NOT reachable" in init_worker_line(server)
    assert secret not in server.log_text()


def test_init_worker_logs_one_clear_line(lua_nginx, make_redis, pki) -> None:
    redis = make_redis(name="tls", tls=pki.server())
    server, _ = lua_nginx(redis.settings_env(REDIS_HOST="localhost"))
    line = init_worker_line(server)
    assert "[notice]" in line
    assert (f"Redis is reachable: rediss://localhost:{redis.port}/0 (TLS, certificate and hostname localhost "
            "verified), role master, PING") in line
    assert re.search(r"PING \d+\.\d\d ms", line), line  # measured below the millisecond, not "0.0 ms"
    assert sum("[REDISSYNC]" in x for x in server.log_text().splitlines()) == 1


# Before any plugin loads: ``require "ffi"`` now fails, as on a Lua without LuaJIT's FFI.
WITHOUT_FFI = '  init_by_lua_block { package.loaded.ffi = nil; package.preload.ffi = function() error("no FFI") end }'


def test_without_ffi_latencies_are_whole_milliseconds_and_say_so(lua_nginx, make_redis) -> None:
    redis = make_redis()
    server, _ = lua_nginx(redis.settings_env(), extra_http=WITHOUT_FFI)
    assert re.search(r"PING \d+ ms \(1 ms clock\)", init_worker_line(server))
    ping = call(server, "POST", "/redissync/ping")[1]["msg"]
    assert ping["clock"] == "ngx.now (1 ms)"
    assert ping["latency_ms"] == int(ping["latency_ms"])


def test_init_worker_says_when_redis_is_down(lua_nginx) -> None:
    port = free_port()  # nothing listens there
    server, _ = lua_nginx({"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)})
    line = init_worker_line(server)
    assert "[error]" in line
    assert f"Redis is NOT reachable: can't connect to redis://127.0.0.1:{port}/0: connection refused" in line


def test_disabled_redis_and_foreign_endpoints(lua_nginx) -> None:
    server, _ = lua_nginx({"USE_REDIS": "no"})
    status, body = call(server, "POST", "/redissync/ping")
    assert (status, body) == (500, {"status": "error", "msg": "USE_REDIS is not yes"})
    assert call(server, "GET", "/redissync/ping")[0] == 404  # wrong method: not claimed
    assert call(server, "GET", "/redissync/other")[0] == 404
    assert "[REDISSYNC]" not in server.log_text()


def test_sentinel_discovery_pools_per_master_address_across_a_failover(lua_nginx, sentinel_topology) -> None:
    server, rendered = lua_nginx(sentinel_topology.settings_env(REDIS_DATABASE="1"))
    first_master = sentinel_topology.master_port()
    status, body = call(server, "POST", "/redissync/ping")
    assert (status, body["msg"]["role"], body["msg"]["mode"]) == (200, "master", "sentinel"), body
    connections = recorded(server)["connections"]
    sentinel_pools = {s["connection_options"]["pool"] for s in rendered.options["connector"]["sentinels"]}
    assert connections[0]["connection_options"]["pool"] in sentinel_pools
    master_pool = connections[-1]["connection_options"]["pool"]
    assert master_pool.startswith(f"redissync:redis:plain:127.0.0.1:{first_master}:1:")

    new_master = sentinel_topology.failover()
    call(server, "DELETE", "/standin/recorded")
    status, body = call(server, "POST", "/redissync/ping")
    assert (status, body["msg"]["role"]) == (200, "master"), body
    after = recorded(server)["connections"][-1]["connection_options"]["pool"]
    assert after.startswith(f"redissync:redis:plain:127.0.0.1:{new_master.port}:1:")
    assert after != master_pool
    log = server.log_text()
    assert SENTINEL_PASSWORD not in log
    assert DATA_PASSWORD not in log


def test_stats_name_the_server_and_mode_as_the_python_diagnosis_does(lua_nginx, plain_redis) -> None:
    """redissync.lua's server_of on what Redis 7.0–8.0 and Valkey 8 answered (tests/data/servers)."""
    server, _ = lua_nginx(plain_redis.settings_env())
    for capture, (name, mode, _cluster) in EXPECTED.items():
        status, body = call(server, "POST", "/standin/server_of", (CAPTURES / capture).read_bytes())
        assert (status, body["server"], body["mode"]) == (200, name, mode), capture
        assert name.endswith(body["version"])
