"""The connection layer against real servers: plain, password, ACL, TLS, Sentinel, failover."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.sentinel import MasterNotFoundError

from harness.acl import FULL_PASSWORD, FULL_USER, LEAST_PASSWORD, LEAST_USER
from harness.sentinel import DATA_PASSWORD, SENTINEL_PASSWORD
from harness.servers import free_port
from redissync.connection import connect, explain, node_options, sentinel_options
from redissync.settings import load_settings
from tests.conftest import REDIS_PASSWORD


def settings_for(env: dict[str, str]):
    return load_settings(env)


def failure(env: dict[str, str]) -> tuple[BaseException, str]:
    settings = load_settings(env)
    client = connect(settings)
    with pytest.raises(RedisError) as caught:
        client.ping()
    client.close()
    return caught.value, explain(caught.value, settings)


def test_plain_server_ping_and_db_select(plain_redis) -> None:
    client = connect(load_settings(plain_redis.settings_env(REDIS_DATABASE="5")))
    client.set("k", "v")
    assert plain_redis.client(db=5).get("k") == b"v"
    assert plain_redis.client(db=0).get("k") is None


def test_resp2_pinned(plain_redis) -> None:
    client = connect(load_settings(plain_redis.settings_env()))
    client.ping()
    names = [c for c in plain_redis.client().client_list() if c.get("name") == "redissync"]
    assert names
    assert all(c["resp"] == "2" for c in names)


def test_password_ok_and_wrong_password_names_setting(password_redis, captured_logs) -> None:
    assert connect(load_settings(password_redis.settings_env())).ping()
    error, sentence = failure(password_redis.settings_env(REDIS_PASSWORD="Wrong-Pw-77aa"))
    assert "REDIS_PASSWORD" in sentence
    assert "default user" in sentence
    assert "Wrong-Pw-77aa" not in sentence + str(error) + captured_logs.text
    assert REDIS_PASSWORD not in captured_logs.text


@pytest.mark.compat
def test_acl_user_full_and_least_privilege(acl_redis) -> None:
    for user, password in ((FULL_USER, FULL_PASSWORD), (LEAST_USER, LEAST_PASSWORD)):
        client = connect(load_settings(acl_redis.settings_env(REDIS_USERNAME=user, REDIS_PASSWORD=password)))
        assert client.ping()
        client.set("bans_ip_1.2.3.4", "x")


def error_replies(admin) -> int:
    """Error replies the server has sent so far (INFO errorstats): Redis 7.0 answers CLIENT SETINFO with one."""
    return sum(int(fields["count"]) for fields in admin.info("errorstats").values())


@pytest.mark.compat
def test_no_client_setinfo_so_the_least_privilege_rule_fits_7_0_to_8(acl_redis) -> None:
    """redis-py ≥ 5 would send CLIENT SETINFO on each connection: 7.0 answers it with an error, 7.2+ needs
    ``+client|setinfo`` in the rule (which 7.0 rejects) or logs a denial. redissync sends none."""
    admin = acl_redis.client()
    admin.acl_log_reset()
    errors_before = error_replies(admin)
    client = connect(load_settings(acl_redis.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD)))
    client.set("bans_ip_192.0.2.9", "x")
    ours = [entry for entry in admin.client_list() if entry.get("name") == "redissync"]
    assert ours
    assert all(not entry.get("lib-name") for entry in ours)  # 7.2+ shows what SETINFO set
    assert error_replies(admin) == errors_before  # 7.0: no "unknown subcommand" reply either
    assert admin.acl_log() == []


def test_unknown_acl_user_names_username_setting(acl_redis) -> None:
    _, sentence = failure(acl_redis.settings_env(REDIS_USERNAME="ghost", REDIS_PASSWORD="whatever"))
    assert "user 'ghost'" in sentence
    assert "REDIS_USERNAME/REDIS_PASSWORD" in sentence


@pytest.mark.compat
def test_tls_verified_with_private_ca(tls_redis) -> None:
    assert connect(load_settings(tls_redis.settings_env())).ping()
    assert connect(load_settings(tls_redis.settings_env(REDIS_HOST="localhost"))).ping()


@pytest.mark.compat
def test_tls_wrong_ca_refused_with_verify(tls_redis, pki) -> None:
    _, sentence = failure(tls_redis.settings_env(SSL_CERT_FILE=str(pki.other_ca_path)))
    assert "REDIS_SSL_VERIFY=yes" in sentence
    assert "SSL_CERT_FILE" in sentence


def test_tls_no_verification_accepts_unknown_ca(tls_redis, pki) -> None:
    env = tls_redis.settings_env(REDIS_SSL_VERIFY="no", SSL_CERT_FILE=str(pki.other_ca_path))
    assert connect(load_settings(env)).ping()


def test_tls_wrong_hostname_refused_with_verify(make_redis, pki) -> None:
    server = make_redis(name="wronghost", tls=pki.wrong_host())
    _, sentence = failure(server.settings_env())
    assert "REDIS_SSL_VERIFY=yes" in sentence
    assert "mismatch" in sentence
    assert connect(load_settings(server.settings_env(REDIS_SSL_VERIFY="no"))).ping()


def test_tls_expired_refused(make_redis, pki) -> None:
    server = make_redis(name="expired", tls=pki.expired())
    _, sentence = failure(server.settings_env())
    assert "expired" in sentence


def test_plain_client_to_tls_port_fails_clearly(tls_redis) -> None:
    _, sentence = failure(tls_redis.settings_env(REDIS_SSL="no"))
    assert "REDIS_SSL" in sentence or "REDIS_PORT" in sentence


def test_closed_port_names_host_and_port(plain_redis) -> None:
    port = plain_redis.port
    plain_redis.stop()
    _, sentence = failure({"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)})
    assert "REDIS_HOST/REDIS_PORT" in sentence


def test_options_carry_timeouts_pool_and_keepalive() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_TIMEOUT": "2", "REDIS_KEEPALIVE_IDLE": "60",
                              "REDIS_KEEPALIVE_POOL": "7", "REDIS_SENTINEL_USERNAME": "su"})
    options = node_options(settings)
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 2
    assert options["max_connections"] == 7
    assert options["protocol"] == 2
    assert options["socket_keepalive"]
    assert 60 in options["socket_keepalive_options"].values()
    assert sentinel_options(settings)["username"] == "su"
    assert "db" not in sentinel_options(settings)


def test_a_keepalive_idle_beyond_linux_tcp_keepidle_still_connects(plain_redis) -> None:
    """REDIS_KEEPALIVE_IDLE=1d is valid in BunkerWeb 1.6.16; Linux refuses TCP_KEEPIDLE above 32767 s (EINVAL)."""
    client = connect(load_settings(plain_redis.settings_env(REDIS_KEEPALIVE_IDLE="1d")))
    assert client.ping()


def test_reconnects_after_server_restart(plain_redis) -> None:
    client = connect(load_settings(plain_redis.settings_env()))
    client.set("before", "1")
    plain_redis.restart()
    assert client.ping()  # the dropped pooled connection is retried on a fresh one
    assert client.get("before") is None


@pytest.mark.compat
def test_sentinel_with_auth_reaches_master_and_follows_failover(sentinel_topology, captured_logs) -> None:
    client = connect(load_settings(sentinel_topology.settings_env()))
    client.set("bans_ip_10.0.0.1", "x")
    assert client.info("replication")["role"] == "master"
    old_port = sentinel_topology.master.port
    new_master = sentinel_topology.failover()
    assert new_master.port != old_port
    client.set("after-failover", "1")  # first command after promotion, same client object
    assert new_master.client().get("after-failover") == b"1"
    text = captured_logs.text
    assert SENTINEL_PASSWORD not in text
    assert DATA_PASSWORD not in text


def test_sentinel_auth_missing_is_explained(sentinel_topology) -> None:
    _, sentence = failure(sentinel_topology.settings_env(REDIS_SENTINEL_PASSWORD=""))
    assert "REDIS_SENTINEL_USERNAME/REDIS_SENTINEL_PASSWORD" in sentence


def test_unknown_master_name_is_explained(sentinel_topology) -> None:
    _, sentence = failure(sentinel_topology.settings_env(REDIS_SENTINEL_MASTER="nope"))
    assert "REDIS_SENTINEL_MASTER" in sentence
    assert "'nope'" in sentence


@pytest.mark.compat
def test_tls_sentinel_topology(tmp_path, pki) -> None:
    from harness.sentinel import SentinelTopology

    topology = SentinelTopology(tmp_path / "tls-sentinel", tls=pki.server()).start()
    try:
        client = connect(load_settings(topology.settings_env()))
        assert client.ping()
        bad = load_settings(topology.settings_env(SSL_CERT_FILE=str(pki.other_ca_path)))
        with pytest.raises(ConnectionError):
            connect(bad).ping()
    finally:
        topology.stop()


def test_no_secret_in_logs_at_debug(password_redis, captured_logs) -> None:
    logging.getLogger("redis").setLevel(logging.DEBUG)
    connect(load_settings(password_redis.settings_env())).ping()
    assert REDIS_PASSWORD not in captured_logs.text


def test_no_sentinel_answering_is_explained_from_the_count_not_the_message() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": f"127.0.0.1:{free_port()} 127.0.0.1:{free_port()}",
                              "REDIS_SENTINEL_MASTER": "mymaster", "REDIS_TIMEOUT": "1"})
    client = connect(settings)
    with pytest.raises(MasterNotFoundError) as caught:
        client.ping()
    assert caught.value.unreachable == 2
    assert explain(caught.value, settings).startswith("no sentinel answered for ")


@pytest.mark.parametrize("error", [
    MovedError("3999 127.0.0.1:7001"), AskError("3999 127.0.0.1:7001"), ClusterCrossSlotError(),
    ClusterDownError("The cluster is down"), TryAgainError(),
    ResponseError("MOVED 3999 127.0.0.1:7001"),  # a redis-py that leaves the code in the text
    ResponseError("SELECT is not allowed in cluster mode"),
])
def test_replies_only_a_cluster_node_sends_name_cluster_mode(error) -> None:
    sentence = explain(error, load_settings({"USE_REDIS": "yes", "REDIS_HOST": "10.0.0.5"}))
    assert sentence.startswith("redis://10.0.0.5:6379/0 runs in cluster mode"), sentence
