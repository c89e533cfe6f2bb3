"""redissync.lua in a real nginx (Debian's Lua module) against the test bed's real Redis: the rendered
snippets load, the connector receives exactly the rendered options, TLS verifies chain and hostname."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.confs.conftest import call
from tests.confs.test_render import ALL_CASES, core_dir_for

pytestmark = pytest.mark.nginx


def recorded(server) -> dict:
    status, body = call(server, "GET", "/standin/recorded")
    assert status == 200
    return {"configs": body["configs"] or [], "connections": body["connections"] or []}


@pytest.mark.parametrize("name", list(ALL_CASES))
def test_nginx_loads_every_rendered_snippet(name: str, lua_nginx, tmp_path: Path) -> None:
    server, rendered = lua_nginx(ALL_CASES[name], core_dir=core_dir_for(name, tmp_path))
    status, options = call(server, "GET", "/standin/options")
    assert status == 200
    assert options == rendered.options  # LuaJIT reads the very table the Python reference predicts


def test_tls_with_the_right_ca_and_hostname(lua_nginx, make_redis, pki) -> None:
    redis = make_redis(name="tls", tls=pki.server())
    server, rendered = lua_nginx(redis.settings_env(REDIS_HOST="localhost"))
    status, body = call(server, "POST", "/redissync/ping")
    assert (status, body["status"]) == (200, "success"), body
    assert body["msg"]["role"] == "master"
    assert body["msg"]["tls"] == "TLS, certificate and hostname localhost verified"
    seen = recorded(server)
    # init_worker and the ping each built a connector: both with exactly the rendered options.
    assert seen["configs"]
    assert all(config == rendered.options["connector"] for config in seen["configs"])
    used = seen["connections"][0]["connection_options"]
    assert used["server_name"] == "localhost"
    assert used["ssl_verify"] is True
    assert used["pool"].startswith(f"redissync:rediss:verify:localhost:{redis.port}:0:")


# Debian's ngx_lua 0.10.23 + lua-resty-core 0.1.25 may report a verification failure that completes
# synchronously as success on a socket it has closed (the next send fails with "closed"): the connection
# still fails, and nginx's error log names the real reason, so both are asserted.
@pytest.mark.parametrize(("certificate", "logged"), [("wrong_host", 'certificate does not match host "localhost"'),
                                                      ("foreign", "certificate verify error")])
def test_tls_fails_with_a_wrong_hostname_or_ca(certificate: str, logged: str, lua_nginx, make_redis, pki) -> None:
    redis = make_redis(name="tls", tls=getattr(pki, certificate)())
    server, _ = lua_nginx(redis.settings_env(REDIS_HOST="localhost"))
    status, body = call(server, "POST", "/redissync/ping")
    assert (status, body["status"]) == (500, "error")
    assert body["msg"].startswith(f"can't connect to rediss://localhost:{redis.port}/0: "), body["msg"]
    assert logged in server.log_text()
    # Nothing of the Lua side (PING, then ROLE) got through: only the test bed's readiness PING, and the admin
    # client's INFO (plus CLIENT SETINFO on Redis 7.2+): counted per command, as that count differs by server.
    processed = redis.client().info("commandstats")
    assert set(processed) <= {"cmdstat_ping", "cmdstat_info", "cmdstat_client|setinfo"}, processed
    assert processed.get("cmdstat_ping", {"calls": 0})["calls"] <= 1, processed


def test_tls_to_an_ip_address_checks_the_chain_only(lua_nginx, make_redis, pki) -> None:
    wrong_name = make_redis(name="tls", tls=pki.wrong_host())
    server, _ = lua_nginx(wrong_name.settings_env())  # REDIS_HOST=127.0.0.1
    status, body = call(server, "POST", "/redissync/ping")
    assert status == 200
    assert body["msg"]["tls"] == "TLS, chain verified, hostname not checked (IP address)"
    foreign = make_redis(name="tls", tls=pki.foreign())
    server, _ = lua_nginx(foreign.settings_env())
    status, body = call(server, "POST", "/redissync/ping")
    assert status == 500
    assert "certificate verify error" in server.log_text()


def test_tls_without_verification_accepts_a_foreign_certificate(lua_nginx, make_redis, pki) -> None:
    redis = make_redis(name="tls", tls=pki.foreign())
    server, _ = lua_nginx(redis.settings_env(REDIS_HOST="localhost", REDIS_SSL_VERIFY="no"))
    status, body = call(server, "POST", "/redissync/ping")
    assert status == 200
    assert body["msg"]["tls"] == "TLS, certificate not verified"
