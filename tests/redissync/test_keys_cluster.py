"""BunkerWeb's Redis Cluster key names (1.6.16~rc3, src/bw/lua/bunkerweb/rediskeys.lua): read alongside the
historical names, built only for the current mode, and one hash tag per IP so a script's keys share a slot."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from redissync.keys import (
    BanKey,
    bad_behavior_key,
    escape_tag,
    facet_key,
    key_category,
    parse_ban_key,
    requests_key,
    split_ban_key,
    unescape_tag,
)


@pytest.mark.parametrize(("ban", "historical", "cluster"), [
    (BanKey("192.0.2.1"), "bans_ip_192.0.2.1", "bans_ip_{192.0.2.1}"),
    (BanKey("2001:db8::1", "www.example.com"), "bans_service_www.example.com_ip_2001:db8::1",
     "bans_service_www.example.com_ip_{2001:db8::1}"),
    (BanKey("192.0.2.1", "a{b}%c"), "bans_service_a{b}%c_ip_192.0.2.1", "bans_service_a%7Bb%7D%25c_ip_{192.0.2.1}"),
])
def test_each_mode_builds_its_own_names_and_both_parse_back(ban: BanKey, historical: str, cluster: str) -> None:
    assert ban.key == ban.key_in(cluster=False) == historical
    assert ban.key_in(cluster=True) == cluster
    assert parse_ban_key(historical) == parse_ban_key(cluster) == ban
    assert parse_ban_key(cluster.encode()) == ban


def test_bad_behavior_counters_in_both_modes() -> None:
    assert BanKey("192.0.2.1").bad_behavior_keys() == ("plugin_bad_behavior_192.0.2.1",)
    assert BanKey("192.0.2.1").bad_behavior_keys(cluster=True) == ("plugin_bad_behavior_{192.0.2.1}",)
    assert BanKey("192.0.2.1", "shop").bad_behavior_keys(cluster=True) == ("plugin_bad_behavior_shop_{192.0.2.1}",)
    assert bad_behavior_key("::1", "a}b", cluster=True) == "plugin_bad_behavior_a%7Db_{::1}"


def test_the_requests_list_and_its_facets_in_both_modes() -> None:
    assert (requests_key(False), requests_key(True)) == ("requests", "{requests}")
    assert facet_key("ip", cluster=True) == "{requests}:facet:ip"
    assert facet_key("ip", cluster=False) == "requests:facet:ip"
    assert [key_category(key) for key in (b"{requests}", b"{requests}:facet:ip", b"bans_ip_{192.0.2.1}",
                                          b"plugin_bad_behavior_{192.0.2.1}")] == ["metrics", "metrics", "bans", "counters"]


@pytest.mark.parametrize("key", ["bans_ip_{192.0.2.1", "bans_ip_{}", "bans_ip_{not-an-ip}", "bans_service_x_ip_{192.0.2.1}}",
                                 "bans_service__ip_{192.0.2.1}"])
def test_malformed_cluster_names_are_not_bans(key: str) -> None:
    assert split_ban_key(key) is None


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s), st.ip_addresses().map(str))
def test_any_service_round_trips_through_its_cluster_name(service: str, ip: str) -> None:
    assert unescape_tag(escape_tag(service)) == service
    assert "{" not in escape_tag(service)
    assert "}" not in escape_tag(service)
    ban = BanKey(ip, service)
    assert parse_ban_key(ban.key_in(cluster=True)) == ban


def test_an_ips_ban_and_counter_keys_share_one_slot_on_a_real_cluster(redis_cluster) -> None:
    """The point of the tag: BunkerWeb's scripts touch a ban and its counters at once, which a cluster only allows
    in one slot. Checked by Redis itself: one EVAL over the keys, no CROSSSLOT."""
    ban = BanKey("198.51.100.7", "shop")
    keys = [ban.key_in(cluster=True), BanKey("198.51.100.7").key_in(cluster=True), *ban.bad_behavior_keys(cluster=True),
            bad_behavior_key("198.51.100.7", None, cluster=True)]
    assert len({key_slot(key.encode()) for key in keys}) == 1
    client = redis_cluster.client()
    try:
        script = "for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1]) end return #KEYS"
        assert client.eval(script, len(keys), *keys, "1") == 4
        assert len({key_slot(key.encode()) for key in (requests_key(True), facet_key("ip", True), facet_key("url", True))}) == 1
    finally:
        client.close()
