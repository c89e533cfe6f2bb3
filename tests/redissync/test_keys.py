"""BunkerWeb key formats: parsing is exact, and anything that only looks like ours is rejected."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redissync.keys import BanKey, is_crowdsec_key, is_lease, parse_ban_key, parse_metric_key, parse_session_key, split_ban_key
from redissync.net import is_ip


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("bans_ip_1.2.3.4", BanKey("1.2.3.4")),
        (b"bans_ip_2001:db8::1", BanKey("2001:db8::1")),
        ("bans_service_www.example.com_ip_10.0.0.1", BanKey("10.0.0.1", "www.example.com")),
        ("bans_service_app_ip_v2_ip_10.0.0.2", BanKey("10.0.0.2", "app_ip_v2")),
        ("bans_service_a_ip_::1", BanKey("::1", "a")),
    ],
)
def test_ban_keys_parse(key, expected) -> None:
    assert parse_ban_key(key) == expected
    assert parse_ban_key(expected.key) == expected


@pytest.mark.parametrize(
    "key",
    ["bans_ip_not-an-ip", "bans_ip_", "bans_ip_1.2.3.999", "bans_service__ip_1.2.3.4", "bans_service_x_ip_",
     b"bans_ip_\xff\xfe", "bans_ipx_1.2.3.4", "other", "bans_service_x_ip_1.2.3.4\n"],
)
def test_malformed_ban_keys_rejected(key) -> None:
    assert parse_ban_key(key) is None


def test_ban_scope_and_bad_behavior_counters() -> None:
    assert BanKey("1.2.3.4").scope == "global"
    assert BanKey("1.2.3.4").bad_behavior_keys() == ("plugin_bad_behavior_1.2.3.4",)
    assert BanKey("1.2.3.4", "svc").bad_behavior_keys() == ("plugin_bad_behavior_svc_1.2.3.4",)


def test_metric_keys() -> None:
    key = parse_metric_key("metrics:badbehavior_counter_total:3")
    assert (key.plugin, key.kind, key.name, key.worker, key.series) == (
        "badbehavior", "counter", "total", "3", "badbehavior_counter_total")
    assert parse_metric_key(b"metrics:antibot_table_failed_challenges:12").kind == "table"
    assert parse_metric_key("metrics:nothing") is None
    assert parse_metric_key(b"metrics:\xff_counter_x:1") is None


def test_session_keys() -> None:
    key = parse_session_key("sessions_:bw_session:abc:def")
    assert (key.cookie, key.ident) == ("bw_session", "abc:def")
    assert parse_session_key("sessions_:onlycookie") is None
    assert parse_session_key("bunkerweb_ui_session:x") is None


# The definition split_ban_key implements by slicing (the bans pass calls it for every new ban): greedy
# service, then the last "_ip_" whose remainder holds no "_", and that remainder an IP.
_SERVICE_BAN_DEFINITION = re.compile(r"bans_service_(?P<service>.+)_ip_(?P<ip>[^_]+)", re.DOTALL)
_KEY_PARTS = st.sampled_from(["bans_", "service_", "ip_", "_ip_", "_", "a", "é", "\n", "1.2.3.4", "::1", "fe80::1%eth0",
                              "10.0.0.300", ".", ":"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_KEY_PARTS, max_size=8).map("".join))
def test_split_ban_key_matches_its_definition(text: str) -> None:
    key = "bans_" + text if not text.startswith("bans_") else text
    match = _SERVICE_BAN_DEFINITION.fullmatch(key)
    if key.startswith("bans_service_"):
        expected = (match["ip"], match["service"]) if match and is_ip(match["ip"]) else None
    elif key.startswith("bans_ip_"):
        expected = (key[8:], None) if is_ip(key[8:]) else None
    else:
        expected = None
    assert split_ban_key(key) == expected
    assert split_ban_key(key.encode()) == expected


@pytest.mark.parametrize(("key", "expected"), [
    ("bans_cs_ip_192.0.2.1", True), (b"bans_cs_service_shop_ip_2001:db8::1", True), ("cs_epoch_192.0.2.1", True),
    ("cs_epoch_{192.0.2.1}", True), ("bans_ip_192.0.2.1", False), ("bans_service_cs_ip_192.0.2.1", False),
    (b"\xff\xfe", False), ("plugin_bad_behavior_192.0.2.1", False),
])
def test_crowdsec_lease_and_fence_keys(key, expected: bool) -> None:
    assert is_crowdsec_key(key) is expected


def test_a_lease_value_says_so_by_kind_or_by_reason_data() -> None:
    assert is_lease({"kind": "crowdsec_lease"})
    assert is_lease({"kind": "ban", "reason_data": {"lease": True}})
    assert not is_lease({"kind": "ban", "reason_data": {"lease": "yes"}})
    assert not is_lease({"reason": "crowdsec", "reason_data": []})
