"""Metrics hygiene against a real Redis: only the keys meant to change change."""

from __future__ import annotations

import logging

import pytest

from redissync.keys import FINGERPRINTS_KEY, FINGERPRINTS_NEXT_KEY
from redissync.metrics.cycle import aggregate_pass, one_pass
from redissync.metrics.hygiene import STALE_KEY_TTL_S, Track, next_track
from redissync.settings import load_settings
from redissync.state import open_state

NOW = 1_800_000_000.0
STALE_AFTER = 2


def snapshot(client, skip: set[bytes]) -> dict[bytes, tuple]:
    """Type, content and TTL of every key but ours and ``skip``."""
    state = {}
    for key in client.scan_iter(count=1000):
        if key.startswith(b"redissync:") or key in skip:
            continue
        kind = client.type(key)
        content = {b"string": client.get, b"list": lambda k: tuple(client.lrange(k, 0, -1)),
                   b"hash": lambda k: tuple(sorted(client.hgetall(k).items()))}[kind](key)
        state[key] = (kind, content, client.ttl(key) > 0)
    return state


@pytest.fixture
def seeded(plain_redis):
    client = plain_redis.client()
    client.set("metrics:badbehavior_counter_bans:0", "1")  # live: changes every pass
    client.set("metrics:badbehavior_counter_bans:9", "42")  # silent worker 9: never changes
    client.rpush("metrics:antibot_table_events:9", "a", "b")  # silent worker 9 too
    client.set("metrics:limit_counter_hits:0", "7")  # live worker 0, idle counter: unchanged, no TTL
    client.set("metrics:limit_counter_hits:3", "8", ex=5000)  # someone else's TTL: never ours to touch
    client.set("metrics:limit_counter_hits:4", "oops")  # malformed: skipped, never touched
    client.set("bans_ip_1.2.3.4", "{}")  # not metrics: never touched
    client.set("sessions_:c:abc", "x")
    client.rpush("requests", *["{}"] * 30)
    client.hset("requests:facet:ip", mapping={"1.2.3.4": 30})
    return client


def run(client, minute: int) -> dict:
    return aggregate_pass(client, cap=10, now=NOW + 60 * minute, stale_after=STALE_AFTER)["hygiene"]


def test_stale_keys_get_a_ttl_and_nothing_else_changes(seeded) -> None:
    client = seeded
    stale = {b"metrics:badbehavior_counter_bans:9", b"metrics:antibot_table_events:9", b"metrics:limit_counter_hits:0"}
    before = snapshot(client, skip={b"metrics:badbehavior_counter_bans:0"})
    for minute in range(STALE_AFTER):
        client.incr("metrics:badbehavior_counter_bans:0")
        report = run(client, minute)
        assert report["bounded_now"] == 0
        assert all(client.ttl(key) == -1 for key in stale)
    client.incr("metrics:badbehavior_counter_bans:0")
    report = run(client, STALE_AFTER)
    assert report["stale"] == 3
    assert report["bounded_now"] == 3
    assert report["no_ttl"] == 4
    assert report["silent_workers"] == ["9"]
    assert report["with_ttl"] == 1
    for key in stale:
        assert STALE_KEY_TTL_S - 5 < client.ttl(key) <= STALE_KEY_TTL_S, key
    assert client.ttl("metrics:badbehavior_counter_bans:0") == -1
    after = snapshot(client, skip={b"metrics:badbehavior_counter_bans:0"})
    # the three stale keys gained a TTL; every other key (and every value) is exactly as before
    assert {key: (kind, content) for key, (kind, content, _) in after.items()} == {
        key: (kind, content) for key, (kind, content, _) in before.items()}
    assert {key for key, (_, _, has_ttl) in after.items() if has_ttl} == stale | {b"metrics:limit_counter_hits:3"}
    assert client.llen("requests") == 30


def test_a_live_writer_revives_a_bounded_key(seeded) -> None:
    client = seeded
    for minute in range(STALE_AFTER + 1):
        client.incr("metrics:badbehavior_counter_bans:0")
        run(client, minute)
    assert client.ttl("metrics:limit_counter_hits:0") > 0
    client.set("metrics:limit_counter_hits:0", "7")  # metrics.lua's SET every 5 s clears the TTL
    report = run(client, STALE_AFTER + 1)
    assert report["revived"] == 1
    assert report["awaiting_expiry"] == 2
    assert report["bounded_now"] == 0
    assert client.ttl("metrics:limit_counter_hits:0") == -1


def test_fingerprints_drop_vanished_keys_and_expire(seeded) -> None:
    client = seeded
    run(client, 0)
    assert client.hexists(FINGERPRINTS_KEY, "metrics:badbehavior_counter_bans:9")
    client.delete("metrics:badbehavior_counter_bans:9")
    run(client, 1)
    assert not client.hexists(FINGERPRINTS_KEY, "metrics:badbehavior_counter_bans:9")
    assert 0 < client.ttl(FINGERPRINTS_KEY) <= 24 * 3600
    assert not client.exists(FINGERPRINTS_NEXT_KEY)


def test_next_track_rules() -> None:
    assert next_track(None, "d", -1, 2) == (Track("d", 0), "no_ttl")
    assert next_track(Track("d", 1), "d", -1, 2) == (Track("d", 2), "stale")
    assert next_track(Track("d", 5), "e", -1, 2) == (Track("e", 0), "no_ttl")
    assert next_track(Track("d", 2, True), "d", -1, 2) == (Track("d", 0), "revived")
    assert next_track(Track("d", 2, True), "d", 100, 2) == (Track("d", 2, True), "awaiting_expiry")
    assert next_track(None, "d", 100, 2) == (None, "has_ttl")
    assert Track.decode(Track("d", 3, True).encode().encode()) == Track("d", 3, True)
    assert Track.decode(b"garbage") is None


@pytest.mark.parametrize("ttl_setting", ["30d", "0"])
def test_with_core_s_metrics_redis_ttl_nothing_is_bounded(plain_redis, ttl_setting: str) -> None:
    """BunkerWeb 1.6.14+ owns the metrics keys' lifetime (METRICS_REDIS_TTL; at 0 its metrics.lua PERSISTs them:
    "keeps the keys permanent"): a silent worker's keys are reported, never given our TTL."""
    client = plain_redis.client()
    client.set("metrics:badbehavior_counter_bans:9", "42")  # a silent worker's counter, no TTL
    settings = load_settings(plain_redis.settings_env(METRICS_REDIS_TTL=ttl_setting))
    assert settings.core_env["METRICS_REDIS_TTL"] == ttl_setting
    for minute in range(STALE_AFTER + 2):
        line = one_pass(settings, client, open_state(), logging.getLogger("test"), now=NOW + 60 * minute,
                        stale_after=STALE_AFTER)
    assert client.ttl("metrics:badbehavior_counter_bans:9") == -1
    assert "1 stale, none bounded (METRICS_REDIS_TTL is BunkerWeb's)" in line
    without = load_settings(plain_redis.settings_env())
    line = one_pass(without, client, open_state(), logging.getLogger("test"), now=NOW + 600, stale_after=STALE_AFTER)
    assert "1 bounded now" in line and client.ttl("metrics:badbehavior_counter_bans:9") > 0  # 1.6.13 and before
