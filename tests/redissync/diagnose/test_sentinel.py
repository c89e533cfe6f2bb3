"""The diagnosis with Sentinel against a real topology (master, replica, three ACL-protected sentinels).

A sentinel that is down or disagrees leaves the setup healthy with a warning; an unknown master name, or
no usable sentinel, fails naming the setting. No failover is needed for any of this."""

from __future__ import annotations

import pytest

from harness.sentinel import DATA_PASSWORD, MASTER_NAME, SENTINEL_PASSWORD
from harness.servers import free_port
from redissync.diagnose.run import diagnose

SENTINEL_STEPS = ["config", "sentinel-dns", "sentinel-tcp", "sentinel-tls", "sentinel-auth", "sentinel-lookup",
                  "tcp", "tls", "auth", "select", "ping", "server", "sentinel-views", "replicas"]


def secret_free(report) -> bool:
    shown = report.render_text() + report.to_json()
    return SENTINEL_PASSWORD not in shown and DATA_PASSWORD not in shown


@pytest.mark.compat
def test_healthy_topology_every_view_agrees(sentinel_topology) -> None:
    report = diagnose(sentinel_topology.settings_env())
    assert report.healthy, report.render_text()
    assert [step.id for step in report.steps] == SENTINEL_STEPS
    lookup = next(step for step in report.steps if step.id == "sentinel-lookup")
    assert lookup.details["master"] == f"127.0.0.1:{sentinel_topology.master.port}"
    views = next(step for step in report.steps if step.id == "sentinel-views").details["views"]
    assert len(views) == 3
    assert all(view["ckquorum"].startswith("OK") for view in views.values())
    replicas = next(step for step in report.steps if step.id == "replicas").details["replicas"]
    assert [row["address"] for row in replicas] == [f"127.0.0.1:{sentinel_topology.replica.port}"]
    assert not any("sentinel" in warning or "replica" in warning for warning in report.warnings), report.warnings
    assert secret_free(report)


def test_unknown_master_name_names_redis_sentinel_master(sentinel_topology) -> None:
    report = diagnose(sentinel_topology.settings_env(REDIS_SENTINEL_MASTER="nosuchmaster"))
    assert report.failure.id == "sentinel-lookup", report.render_text()
    assert f"sentinels know ['{MASTER_NAME}']" in report.failure.sentence
    assert report.to_dict()["failure_settings"] == ["REDIS_SENTINEL_MASTER"]


def test_one_sentinel_down_is_healthy_with_a_warning(sentinel_topology) -> None:
    stopped = sentinel_topology.sentinels[1]
    port = stopped.port
    stopped.stop()
    report = diagnose(sentinel_topology.settings_env(REDIS_TIMEOUT="1000"))
    assert report.healthy, report.render_text()
    assert any(f"127.0.0.1:{port}" in warning and "REDIS_SENTINEL_HOSTS" in warning for warning in report.warnings)


def test_disagreeing_sentinel_is_healthy_with_a_warning(sentinel_topology) -> None:
    # One sentinel is re-pointed at the replica (long down-after: no failover during the test).
    rogue = sentinel_topology.sentinels[2].client()
    rogue.execute_command("SENTINEL", "REMOVE", MASTER_NAME)
    rogue.execute_command("SENTINEL", "MONITOR", MASTER_NAME, "127.0.0.1", sentinel_topology.replica.port, 2)
    rogue.execute_command("SENTINEL", "SET", MASTER_NAME, "auth-pass", DATA_PASSWORD, "down-after-milliseconds", 600000)
    report = diagnose(sentinel_topology.settings_env())
    assert report.healthy, report.render_text()
    lookup = next(step for step in report.steps if step.id == "sentinel-lookup")
    assert lookup.details["master"] == f"127.0.0.1:{sentinel_topology.master.port}", "the majority wins"
    disagree = [w for w in report.warnings if "disagree" in w]
    assert disagree
    assert f"127.0.0.1:{sentinel_topology.replica.port}" in disagree[0]
    assert secret_free(report)


def test_no_usable_sentinel_names_redis_sentinel_hosts() -> None:
    env = {"USE_REDIS": "yes", "REDIS_SENTINEL_HOSTS": f"127.0.0.1:{free_port()} 127.0.0.1:{free_port()}"}
    report = diagnose(env)
    assert report.failure.id == "sentinel-tcp"
    assert "REDIS_SENTINEL_HOSTS" in report.to_dict()["failure_settings"]


def test_unresolvable_sentinel_is_only_a_warning(sentinel_topology) -> None:
    env = sentinel_topology.settings_env()
    env["REDIS_SENTINEL_HOSTS"] += " sentinel.example.invalid:26379"
    report = diagnose(env)
    assert report.healthy, report.render_text()
    assert any("sentinel.example.invalid" in w and "REDIS_SENTINEL_HOSTS" in w for w in report.warnings)


def test_wrong_sentinel_password_names_sentinel_settings(sentinel_topology) -> None:
    report = diagnose(sentinel_topology.settings_env(REDIS_SENTINEL_PASSWORD="Wrong-Sentinel-Pw-31c7"))
    assert report.failure.id == "sentinel-auth", report.render_text()
    assert "REDIS_SENTINEL_PASSWORD" in report.to_dict()["failure_settings"]
    assert "Wrong-Sentinel-Pw-31c7" not in report.to_json() + report.render_text()
    assert secret_free(report)


@pytest.mark.compat
def test_missing_sentinel_credentials_names_sentinel_settings(sentinel_topology) -> None:
    report = diagnose(sentinel_topology.settings_env(REDIS_SENTINEL_USERNAME="", REDIS_SENTINEL_PASSWORD=""))
    assert report.failure.id == "sentinel-auth", report.render_text()
    assert "REDIS_SENTINEL_PASSWORD" in report.failure.sentence


def test_replica_where_a_master_is_needed_names_redis_host(sentinel_topology) -> None:
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(sentinel_topology.replica.port),
           "REDIS_PASSWORD": DATA_PASSWORD}
    report = diagnose(env)
    assert report.failure.id == "server", report.render_text()
    assert "read-only replica" in report.failure.sentence
    assert report.to_dict()["failure_settings"][0] == "REDIS_HOST"
    assert secret_free(report)
