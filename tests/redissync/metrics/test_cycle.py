"""Metrics aggregation against a real Redis: sums and merges match a hand computation on generated data."""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict

import pytest

from redissync.keys import METRICS_SUMMARY_KEY as SUMMARY_KEY
from redissync.keys import SERVER_SERIES_KEY, TOTALS_SERIES_KEY
from redissync.metrics import series
from redissync.metrics.cycle import SUMMARY_FILE, aggregate_pass, one_pass
from redissync.metrics.merge import TABLE_SAMPLE, parse_number
from redissync.settings import load_settings
from redissync.state import open_state

NOW = 1_800_000_000.0
LOGGER = logging.getLogger("test")


def generate(client, seed: int = 7) -> tuple[dict, dict, set]:
    """~2 600 metrics keys over several SCAN batches; returns the expected counter sums and table sizes."""
    rng = random.Random(seed)
    expected_counters: dict[str, float] = defaultdict(int)
    expected_tables: dict[str, list[int]] = defaultdict(list)
    workers = {str(w) for w in range(12)}
    pipe = client.pipeline(transaction=False)
    for plugin in ("badbehavior", "antibot", "limit", "country_x"):
        for name in ("blocked", "passed_ok", "x_counter_y"):
            for worker in workers:
                value = rng.choice([rng.randint(0, 10**6), round(rng.uniform(0, 1000), 3)])
                pipe.set(f"metrics:{plugin}_counter_{name}:{worker}", str(value))
                expected_counters[f"{plugin}_counter_{name}"] += value
        for worker in workers:
            length = rng.randint(1, 40)
            items = [json.dumps({"ip": f"10.0.{worker}.{i}"}) for i in range(length)]
            pipe.rpush(f"metrics:{plugin}_table_events:{worker}", *items)
            expected_tables[f"{plugin}_table_events"].append(length)
    for i in range(2000):  # unrelated keys in every category, so the scan spans several batches
        pipe.set(rng.choice(["bans_ip_10.1.{}.{}", "sessions_:c:{}{}", "plugin_bad_behavior_{}{}", "other:{}:{}"]).format(i, seed), "x")
    pipe.execute()
    return expected_counters, expected_tables, workers


def test_parse_number_accepts_lua_numbers_only() -> None:
    assert parse_number(b"42") == 42
    assert parse_number(b"-3") == -3
    assert parse_number(b"4.5") == 4.5
    assert parse_number(b"1e+15") == 1e15
    for bad in (b"", b"abc", b"nan", b"inf", b"-nan", b"1_000", b"0x10", b"4.5.6"):
        assert parse_number(bad) is None, bad


def test_aggregation_matches_hand_computation(plain_redis) -> None:
    client = plain_redis.client()
    expected_counters, expected_tables, workers = generate(client)
    summary = aggregate_pass(client, cap=10_000, now=NOW)
    got = {f"{plugin}_counter_{name}": value for plugin, names in summary["counters"].items() for name, value in names.items()}
    assert got.keys() == expected_counters.keys()
    for series_key, value in expected_counters.items():
        assert got[series_key] == pytest.approx(value, rel=1e-12), series_key
    for series_key, lengths in expected_tables.items():
        plugin = series_key.split("_table_")[0]
        table = summary["tables"][plugin]["events"]
        assert table["items"] == sum(lengths)
        assert table["workers"] == len(workers)
        assert len(table["sample"]) == TABLE_SAMPLE
        assert all("ip" in item for item in table["sample"])
    assert summary["workers"] == sorted(workers)
    assert summary["metrics_keys"] == 4 * 3 * 12 + 4 * 12
    keys = summary["server"]["keys"]
    assert sum(keys.values()) == 2192  # our own redissync:* keys are never counted
    assert keys["metrics"] == 4 * 3 * 12 + 4 * 12
    assert sum(keys[c] for c in ("bans", "sessions", "counters")) + keys["other"] == 2000
    assert summary["malformed"] == {"unparsed_key": 0, "non_numeric": 0, "wrong_type": 0, "vanished": 0}
    assert summary["series_points"] == 1
    assert summary["series"]["t"] == [series.minute_of(NOW)]


def test_malformed_values_are_skipped_and_counted(plain_redis) -> None:
    client = plain_redis.client()
    client.set("metrics:badbehavior_counter_bans:0", "5")
    client.set("metrics:badbehavior_counter_bans:1", "not a number")
    client.hset("metrics:badbehavior_counter_bans:2", mapping={"a": "1"})  # a hash where a string is expected
    client.set("metrics:antibot_table_events:0", "a string where a list is expected")
    client.rpush("metrics:antibot_table_events:1", "ok")
    client.set("metrics:nonsense", "1")
    client.set(b"metrics:\xff\xfe_counter_x:0", "1")
    client.set("requests", "wrong type")
    summary = aggregate_pass(client, cap=10, now=NOW)
    assert summary["counters"] == {"badbehavior": {"bans": 5}}
    assert summary["tables"]["antibot"]["events"]["items"] == 1
    assert summary["malformed"] == {"unparsed_key": 2, "non_numeric": 1, "wrong_type": 2, "vanished": 0}
    assert summary["requests"]["wrong_type"] is True
    assert "5 malformed skipped" in summary["summary"]
    # nothing malformed was touched
    assert client.ttl("metrics:badbehavior_counter_bans:1") == -1
    assert client.type("metrics:badbehavior_counter_bans:2") == b"hash"


def test_requests_reported_against_cap_never_trimmed(plain_redis) -> None:
    client = plain_redis.client()
    client.rpush("requests", *[json.dumps({"id": i}) for i in range(120)])
    client.hset("requests:facet:ip", mapping={"1.1.1.1": 70, "2.2.2.2": 50})
    client.hset("requests:facet:country", mapping={"FR": 120})
    report = aggregate_pass(client, cap=100, now=NOW)["requests"]
    assert report == {"cap": 100, "length": 120, "over_cap": 20, "ttl": None, "wrong_type": False, "facets": {"ip": 2, "country": 1}}
    assert client.llen("requests") == 120
    assert client.hlen("requests:facet:ip") == 2


def test_series_keeps_exactly_24_hours_and_replaces_a_minute(plain_redis) -> None:
    client = plain_redis.client()
    start = series.minute_of(NOW)
    pipe_points = [{"t": start + 60 * i, "ops": i} for i in range(1500)]
    for point in pipe_points:
        kept = series.write_point(client, SERVER_SERIES_KEY, point)
    last = pipe_points[-1]["t"]
    assert kept == 1440
    points = series.read_points(client, SERVER_SERIES_KEY, last)
    assert len(points) == 1440
    assert points[0]["t"] == last - 24 * 3600 + 60
    assert points[-1]["t"] == last
    series.write_point(client, SERVER_SERIES_KEY, {"t": last, "ops": -1})
    assert series.read_points(client, SERVER_SERIES_KEY, last)[-1]["ops"] == -1
    assert client.zcard(SERVER_SERIES_KEY) == 1440
    assert 0 < client.ttl(SERVER_SERIES_KEY) <= series.SERIES_TTL_S


def test_passes_a_day_apart_drop_old_points_and_rates_use_deltas(plain_redis) -> None:
    client = plain_redis.client()
    aggregate_pass(client, cap=10, now=NOW)
    second = aggregate_pass(client, cap=10, now=NOW + 60)
    assert second["series_points"] == 2
    assert second["server"]["ops"] > 0
    later = aggregate_pass(client, cap=10, now=NOW + 24 * 3600)
    assert later["series"]["t"] == [series.minute_of(NOW + 60), series.minute_of(NOW + 24 * 3600)]
    assert len(series.read_points(client, TOTALS_SERIES_KEY, series.minute_of(NOW + 24 * 3600))) == 2


def test_replication_lag_from_info() -> None:
    info = {"role": "master", "master_repl_offset": 1000,
            "slave0": {"ip": "10.0.0.2", "offset": 900, "lag": 1}, "slave1": {"ip": "10.0.0.3", "offset": 1000, "lag": 0}}
    assert series.replication_lag(info) == (1, 100)
    assert series.replication_lag({"role": "slave", "master_last_io_seconds_ago": 3}) == (3, None)
    assert series.replication_lag({"role": "master", "master_repl_offset": 5}) == (None, None)


def test_one_pass_publishes_summary_in_state_and_redis(plain_redis) -> None:
    client = plain_redis.client()
    client.set("metrics:badbehavior_counter_bans:0", "2")
    state = open_state()
    line = one_pass(load_settings(plain_redis.settings_env()), client, state, LOGGER, now=NOW, env={})
    saved = state.read_json(SUMMARY_FILE)
    assert saved["summary"] == line
    assert saved["requests"]["cap"] == 10_000  # BunkerWeb's default 10k
    assert json.loads(client.get(SUMMARY_KEY)) == saved
    assert 0 < client.ttl(SUMMARY_KEY) <= 3600
    assert all(client.ttl(key) > 0 for key in client.scan_iter("redissync:*")), "every key of ours has a TTL"


def test_cached_metric_names_agree_with_the_parser() -> None:
    """``MetricNames`` parses once per series head; it must answer exactly what ``parse_metric_key`` does."""
    from redissync.keys import parse_metric_key
    from redissync.metrics.merge import MetricNames

    heads = [b"metrics:badbehavior_counter_blocked", b"metrics:a_table_x:y", b"metrics:_counter_x", b"metrics:a_counter_",
             b"metrics:a:b_counter_x", b"metrics:a_counter__counter_x", b"metrics:p_tablex_y", b"metrics", b"metrics:a\xff_counter_x",
             b"metrics:a_counter_x\n", b"metrics:country_x_counter_x_counter_y"]
    workers = [b"0", b"12", b"", b"w\xff", b"\n", b"a b"]
    names = MetricNames()
    for _ in range(2):  # the second round answers from the cache
        for head in heads:
            for worker in workers:
                key = head + b":" + worker
                parsed = parse_metric_key(key)
                expected = None if parsed is None else (parsed.series, parsed.kind == "counter", parsed.worker)
                assert names.parse(key) == expected, key
    for key in (b"metrics:nocolon", b"metrics:a_counter_x"):
        assert names.parse(key) is None
        assert parse_metric_key(key) is None
