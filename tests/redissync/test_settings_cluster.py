"""REDIS_CLUSTER_NODES (BunkerWeb 1.6.16~rc3: core redis plugin.json,
src/bw/lua/bunkerweb/rediskeys.lua): cluster mode exactly when not blank, the
node list's form, and the pairs BunkerWeb refuses, each a finding naming both settings."""

from __future__ import annotations

import pytest

from redissync.settings import Address, Conflict, SettingsError, load_settings
from tests.confs.luaopts import lua_options

NODES = "n1 n2:7001 [::1]:7002 [fe80::2]"


def test_nodes_parsed_with_the_default_port_6379_and_ipv6() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": NODES})
    assert settings.cluster_nodes == (Address("n1", 6379), Address("n2", 7001), Address("::1", 7002), Address("fe80::2", 6379))
    assert settings.mode == "cluster"
    assert settings.target() == "cluster via seed nodes n1:6379 n2:7001 [::1]:7002 [fe80::2]:6379"
    assert settings.public()["cluster_nodes"] == ["n1:6379", "n2:7001", "[::1]:7002", "[fe80::2]:6379"]


@pytest.mark.parametrize("blank", ["", " ", "   "])
def test_cluster_mode_is_on_exactly_when_the_list_is_not_blank(blank: str) -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_CLUSTER_NODES": blank})
    assert settings.mode == "standalone"
    assert settings.cluster_nodes == ()
    assert load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": " n1 "}).mode == "cluster"


def test_cluster_nodes_stand_for_redis_host() -> None:
    assert load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "n1"}).host == ""
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes"})
    assert "REDIS_CLUSTER_NODES" in str(caught.value)


def test_with_sentinels_is_refused_naming_both_settings() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "n1", "REDIS_SENTINEL_HOSTS": "s1"})
    [problem] = caught.value.problems
    assert isinstance(problem, Conflict)
    assert str(problem).startswith("REDIS_CLUSTER_NODES and REDIS_SENTINEL_HOSTS are both set, remove one")


@pytest.mark.parametrize("database", ["1", "15"])
def test_with_a_database_other_than_0_is_refused_naming_both_settings(database: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "n1", "REDIS_DATABASE": database})
    assert [str(problem).split(":")[0] for problem in caught.value.problems] == [
        f"REDIS_CLUSTER_NODES requires REDIS_DATABASE 0 (got {database})"]


def test_both_refusals_and_a_bad_value_are_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "n1", "REDIS_SENTINEL_HOSTS": "s1", "REDIS_DATABASE": "2",
                       "REDIS_PORT": "0"})
    assert [problem.setting for problem in caught.value.problems] == ["REDIS_PORT", "REDIS_SENTINEL_HOSTS", "REDIS_DATABASE"]


def test_a_malformed_list_is_one_problem_not_a_refused_pair() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "redis://n1", "REDIS_DATABASE": "3"})
    [problem] = caught.value.problems
    assert str(problem).startswith("REDIS_CLUSTER_NODES='redis://n1' is invalid: expected Space-separated Redis Cluster")


def test_the_refusals_hold_with_redis_disabled_like_every_bad_value() -> None:
    """Found before USE_REDIS is turned on, as a bad value is: the page and the check say it first."""
    with pytest.raises(SettingsError):
        load_settings({"USE_REDIS": "no", "REDIS_CLUSTER_NODES": "n1", "REDIS_DATABASE": "1"})


def test_lua_is_given_the_seed_nodes() -> None:
    options = lua_options(load_settings({"USE_REDIS": "yes", "REDIS_CLUSTER_NODES": "n1 n2:7000"}))
    assert options["mode"] == "cluster"
    assert [(node["host"], node["port"]) for node in options["nodes"]] == [("n1", 6379), ("n2", 7000)]
    assert "error" not in options
