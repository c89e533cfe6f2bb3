"""Redis data no one should trust, under every key pattern redissync reads: binary key names, wrong types,
IPs that are not IPs, service names with ``_ip_`` inside, JSON bombs, huge values, 1M-element lists.

Every job (run as BunkerWeb runs it) and every bwcli command must exit 0, skip and *count* what it cannot
use (the counts are asserted in the summaries and the JSON outputs), and leave BunkerWeb's hostile keys
exactly as they were (``DUMP`` + ``PTTL`` compared before/after). Keys of redissync's own namespace are
the exception: they are ours, so a wrong-typed one is replaced, never fatal. The big cases (1M elements,
multi-MB values) are ``slow`` and measure each entry's peak RSS in a subprocess against a baseline run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from harness.bans import write_ban
from harness.jobrun import ROOT, run_bwcli, run_job_file
from harness.servers import RedisServer
from tests.reliability import figures

JOBS = ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions")
BOMB_UNDER_LIMIT = "[" * 30_000 + "]" * 30_000  # 60 KB: under the bans job's 64 KB value limit, parsed
BOMB_100K = "[" * 100_000 + "]" * 100_000  # 100k levels (200 KB)


def state_dir() -> Path:
    return Path(os.environ["REDISSYNC_STATE_DIR"])


def summary(name: str) -> dict:
    return json.loads((state_dir() / name).read_text())


# -- the hostile data ------------------------------------------------------------------------------------
def seed_hostile_bans(client: redis.Redis) -> None:
    ban = json.dumps({"reason": "hostile", "service": "unknown", "ban_scope": "global"})
    for key in (b"bans_ip_\xff\xfe", b"bans_ip_not-an-ip", b"bans_ip_999.1.1.1", b"bans_service_x_ip_y_ip_notip",
                b"bans_service_\xc3_ip_192.0.2.40"):
        client.set(key, ban)  # keys that only look like bans: journaled as malformed "key"
    client.set("bans_foreign", ban)  # matches bans_* but not BunkerWeb's formats: not a ban at all
    client.hset("bans_ip_192.0.2.20", "reason", "hash")
    client.rpush("bans_ip_192.0.2.21", "list")
    client.sadd("bans_ip_192.0.2.22", "set")
    client.zadd("bans_ip_192.0.2.23", {"zset": 1})
    client.xadd("bans_service_app_ip_192.0.2.24", {"stream": "1"})
    client.set("bans_ip_192.0.2.30", BOMB_UNDER_LIMIT)  # parsed: RecursionError must be "not-json"
    client.set("bans_ip_192.0.2.31", BOMB_100K)  # over the limit: "too-large", never parsed
    client.set("bans_ip_192.0.2.32", b"\xff\x00\xfe")  # "binary"
    client.rpush("plugin_bad_behavior_192.0.2.50", "list")
    client.hset(b"plugin_bad_behavior_\xff_192.0.2.1", "h", "1")  # binary name ending with the IP the test unbans


def seed_hostile_sessions(client: redis.Redis) -> None:
    client.hset("sessions_:bw:h1", "a", "b")
    client.rpush("sessions_:bw:l1", "a")
    client.zadd("sessions_:bw:z1", {"a": 1})
    client.xadd("sessions_:bw:x1", {"a": "b"})
    client.sadd("bunkerweb_ui_session:s1", "a")
    client.set(b"sessions_:\xff:\xfe", "x")  # no TTL: would be bounded if it were parsed as a session
    client.set("sessions_:nocolon", "x")
    client.set("sessions_::empty-cookie", "x")


def seed_hostile_metrics(client: redis.Redis) -> None:
    client.hset("metrics:x_counter_hash:0", "a", "1")
    client.set("metrics:x_counter_nan:0", "nan")
    client.set("metrics:x_counter_txt:0", "12 monkeys")
    client.set("metrics:x_counter_inf:0", "1e999")  # a float Python reads as inf
    client.set("metrics:x_counter_digits:0", "7" * 5000)  # more digits than int() converts
    client.set("metrics:x_table_str:0", "not a list")
    client.zadd("metrics:x_table_zset:0", {"a": 1})
    client.xadd("metrics:x_table_stream:0", {"a": "b"})
    client.set(b"metrics:\xff_counter_a:0", "1")
    client.set("metrics:no-format", "1")
    client.rpush("metrics:x_table_bombs:0", BOMB_UNDER_LIMIT, BOMB_100K, "[" * 990 + "]" * 990)
    client.zadd("requests", {"not a list": 1})
    client.set("requests:facet:ip", "not a hash")
    client.hset(b"requests:facet:\xff", "a", "1")


def seed_clean(client: redis.Redis) -> None:
    """What a healthy cluster holds next to the hostile data: the passes must still do their work."""
    write_ban(client, "192.0.2.1", ttl=600)
    write_ban(client, "192.0.2.7", service="my_ip_app", ttl=600)  # a service name with _ip_ inside
    write_ban(client, "192.0.2.9", service="a_ip_b_ip_c", ttl=None)
    client.set("plugin_bad_behavior_192.0.2.1", "3", ex=600)
    client.set("sessions_:bw:ok", "x", ex=600)
    client.set("sessions_:clean:1", "x", ex=600)
    client.set("metrics:badbehavior_counter_bans:0", "3")


def hostile_keys(client: redis.Redis) -> list[bytes]:
    clean = {b"bans_ip_192.0.2.1", b"bans_service_my_ip_app_ip_192.0.2.7", b"bans_service_a_ip_b_ip_c_ip_192.0.2.9",
             b"plugin_bad_behavior_192.0.2.1", b"sessions_:bw:ok", b"sessions_:clean:1", b"metrics:badbehavior_counter_bans:0"}
    return sorted(key for key in client.scan_iter(count=1000) if key not in clean and not key.startswith(b"redissync:"))


def snapshot(client: redis.Redis, keys: list[bytes]) -> dict[bytes, tuple[str, int | str]]:
    """Type + content (DUMP, hashed: a 1M list dumps to megabytes) + TTL of each key."""
    def expiry(key: bytes) -> int | str:
        pttl = client.pttl(key)
        return pttl if pttl < 0 else "expires"  # a live TTL counts down: only "has one" is stable

    return {key: (hashlib.sha256(client.dump(key) or b"").hexdigest(), expiry(key)) for key in keys}


def run_everything(env: dict[str, str], export: Path, capsys: pytest.CaptureFixture[str], grep) -> dict[str, tuple[int, str]]:
    """Every job and every bwcli command once; (exit code, stdout) by name (each output also goes to the secret grep)."""
    results: dict[str, tuple[int, str]] = {}
    for job in JOBS:
        results[job] = (run_job_file(job, env), capsys.readouterr().out)
    for name, command, argv in (
        ("check", "check.py", []), ("check --json", "check.py", ["--json"]),
        ("bans list", "bans.py", ["list"]), ("bans list --json", "bans.py", ["list", "--json"]),
        ("bans export", "bans.py", ["export", "--output", str(export)]),
        ("bans import", "bans.py", ["import", "--skip-invalid", str(export)]),
        ("sessions stats", "sessions.py", ["stats"]), ("sessions stats --json", "sessions.py", ["stats", "--json"]),
        ("sessions revoke", "sessions.py", ["revoke"]),
        ("sessions revoke --cookie clean --yes", "sessions.py", ["revoke", "--cookie", "clean", "--yes"]),
    ):
        results[name] = (run_bwcli(command, env, argv), capsys.readouterr().out)
    grep.add(*(out for _, out in results.values()))
    return results


# -- default suite: a representative subset of every kind -------------------------------------------------
def test_hostile_data_is_skipped_counted_and_left_alone(plain_redis: RedisServer, tmp_path: Path, capsys, no_secret_leaks) -> None:
    client = plain_redis.client()
    seed_clean(client)
    seed_hostile_bans(client)
    seed_hostile_sessions(client)
    seed_hostile_metrics(client)
    keys = hostile_keys(client)
    before = snapshot(client, keys)
    env = plain_redis.settings_env()

    results = run_everything(env, tmp_path / "bans.jsonl", capsys, no_secret_leaks)
    assert {name: code for name, (code, _) in results.items()} == dict.fromkeys(results, 0)

    bans = summary("bans-summary.json")["last_pass"]
    # 3 clean + 5 look-alike keys + 5 wrong types + 2 bombs + 1 binary value; bans_foreign is not a ban
    assert (bans["seen"], bans["wrong_type"], bans["ok"]) == (16, 5, True)
    assert bans["malformed_kinds"] == {"key": 5, "type": 5, "not-json": 1, "too-large": 1, "binary": 1}
    listed = json.loads(results["bans list --json"][1])
    scoped = {row["key"]: row["service"] for row in listed if row["scope"] == "service"}
    assert scoped == {"bans_service_my_ip_app_ip_192.0.2.7": "my_ip_app", "bans_service_a_ip_b_ip_c_ip_192.0.2.9": "a_ip_b_ip_c"}
    assert sum(1 for row in listed if row["malformed"]) == 8  # the wrong types are counted, never journaled
    assert "invalid lines" in results["bans import"][1]
    assert "0 bans restored" in results["bans import"][1]

    metrics = summary("metrics-summary.json")
    assert metrics["malformed"] == {"unparsed_key": 2, "non_numeric": 4, "wrong_type": 4, "vanished": 0}
    assert metrics["counters"] == {"badbehavior": {"bans": 3}}
    assert metrics["tables"]["x"]["bombs"]["items"] == 3  # a list of bombs is a table: counted, sampled as text
    assert metrics["requests"]["wrong_type"] is True
    assert metrics["requests"]["facets"] == {"\ufffd": 1}

    sessions = json.loads(results["sessions stats --json"][1])
    assert sessions["malformed"] == {"unparsed_key": 3, "wrong_type": 5, "vanished": 0}
    assert (sessions["live"], sessions["cookies"]["bw"]["live"]) == (2, 1)  # sessions_:bw:ok + sessions_:clean:1
    assert summary("sessions-summary.json")["malformed"] == sessions["malformed"]
    assert "6 sessions of every cookie would be revoked" in results["sessions revoke"][1]
    assert "revoked 1 session of cookie 'clean'" in results["sessions revoke --cookie clean --yes"][1]

    # an unban next to the hostile counters: propagated, only the unbanned IP's own counter cleared
    client.delete("bans_ip_192.0.2.1")
    assert run_job_file("redissync-bans", env) == 0
    second = summary("bans-summary.json")["last_pass"]
    assert (second["unbans"], second["counters_cleared"]) == (1, 1)  # a non-UTF-8 name is not BunkerWeb's counter
    assert snapshot(client, keys) == before
    assert not client.exists("plugin_bad_behavior_192.0.2.1")
    figures.record("hostile_cases", len(keys))
    figures.record("hostile_runs_survived", len(results) + 1)


def test_wrong_types_in_our_own_namespace_are_replaced_not_fatal(plain_redis: RedisServer, capsys) -> None:
    client = plain_redis.client()
    write_ban(client, "192.0.2.1", ttl=600)
    client.set("metrics:badbehavior_counter_bans:0", "3")
    client.hset("redissync:generation", "a", "b")
    client.rpush("redissync:lock:bans", "held forever?")
    client.sadd("redissync:lock:metrics", "held forever?")
    client.set("redissync:metrics:{fingerprints}", "not a hash")
    client.rpush("redissync:metrics:series:server", "not a zset")
    client.hset("redissync:metrics:series:totals", "a", "b")
    client.zadd("redissync:metrics:summary", {"a": 1})
    client.rpush("redissync:sessions:summary", "a")
    client.set(b"redissync:\xff", "not ours to judge")
    env = plain_redis.settings_env()
    assert [run_job_file(job, env) for job in JOBS] == [0, 0, 0, 0]
    assert summary("bans-summary.json")["last_pass"]["new"] == 1
    own = ("redissync:generation", "redissync:metrics:{fingerprints}", "redissync:metrics:series:server",
           "redissync:metrics:series:totals", "redissync:metrics:summary", "redissync:sessions:summary")
    assert {key: client.type(key) for key in own} == {"redissync:generation": b"string", "redissync:metrics:{fingerprints}": b"hash",
                     "redissync:metrics:series:server": b"zset", "redissync:metrics:series:totals": b"zset",
                     "redissync:metrics:summary": b"string", "redissync:sessions:summary": b"string"}
    assert not client.exists("redissync:lock:bans", "redissync:lock:metrics")  # replaced, then released
    assert client.get(b"redissync:\xff") == b"not ours to judge"
    figures.record("hostile_cases", 9)
    figures.record("hostile_runs_survived", len(JOBS))


# -- slow: 1M-element lists and multi-MB values, peak RSS measured in a subprocess ------------------------------
BIG_VALUE = 8 * 1024 * 1024
MILLION = 1_000_000
RSS_HEADROOM_KB = 96 * 1024  # over the same entry's baseline on an empty server

# VmHWM is this process image's peak RSS; ru_maxrss would not do: it survives exec, so a child reports the
# size of the pytest process that forked it.
_RSS_PROBE = """
import json, os, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/jobs"]
from harness.jobrun import run_bwcli, run_job_file
kind, name, argv, env = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), dict(os.environ)
code = run_job_file(name, env) if kind == "job" else run_bwcli(name, env, argv)
sys.stdout.flush()
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("\\nRSS-PROBE", json.dumps({"code": code, "rss_kb": int(hwm.split()[1])}))
"""


def peak_rss(env: dict[str, str], kind: str, name: str, argv: list[str]) -> tuple[int, int]:
    """(exit code, peak RSS in KB) of one entry run as BunkerWeb runs it, in a fresh interpreter."""
    child_env = {**{k: os.environ[k] for k in ("PATH", "HOME", "LANG", "REDISSYNC_STATE_DIR", "REDISSYNC_BW_CORE_DIR") if k in os.environ},
                 **env}
    done = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(ROOT), kind, name, json.dumps(argv)], env=child_env,
                          capture_output=True, text=True, timeout=300)
    line = [x for x in done.stdout.splitlines() if x.startswith("RSS-PROBE ")]
    assert line, f"{name}: no probe line (exit {done.returncode}): {done.stderr[-2000:]}"
    assert json.loads(line[-1].removeprefix("RSS-PROBE "))["code"] == 0, f"{name} {argv}: {done.stderr[-2000:]}"
    result = json.loads(line[-1].removeprefix("RSS-PROBE "))
    return result["code"], result["rss_kb"]


def push_million(client: redis.Redis, key: str) -> None:
    item = json.dumps({"id": "x" * 16, "ip": "192.0.2.1", "reason": "hostile"})
    for _ in range(MILLION // 50_000):
        client.rpush(key, *([item] * 50_000))


ENTRIES = (("job", "redissync-check", []), ("job", "redissync-bans", []), ("job", "redissync-metrics", []),
           ("job", "redissync-sessions", []), ("bwcli", "check.py", ["--json"]), ("bwcli", "bans.py", ["list", "--json"]),
           ("bwcli", "sessions.py", ["stats", "--json"]), ("bwcli", "sessions.py", ["revoke"]))


@pytest.mark.slow
def test_million_element_lists_and_huge_values_stay_within_memory(make_redis, tmp_path: Path) -> None:
    empty = make_redis(name="empty")
    big = make_redis(name="big")
    client = big.client()
    push_million(client, "requests")
    push_million(client, "metrics:x_table_huge:0")
    push_million(client, "bans_ip_192.0.2.60")
    push_million(client, "sessions_:bw:huge-list")
    client.set("bans_ip_192.0.2.61", b"B" * BIG_VALUE)
    client.set("metrics:x_counter_huge:0", b"7" * BIG_VALUE)
    client.set("sessions_:bw:huge-string", b"S" * BIG_VALUE, ex=600)
    client.set("requests:facet:ip", b"F" * BIG_VALUE)
    seed_hostile_bans(client)
    keys = hostile_keys(client)
    before = snapshot(client, keys)

    report = []
    for kind, name, argv in ENTRIES:
        base_code, base_rss = peak_rss(empty.settings_env(REDISSYNC_STATE_DIR=str(tmp_path / "empty-state")), kind, name, argv)
        code, rss = peak_rss(big.settings_env(REDISSYNC_STATE_DIR=str(tmp_path / "big-state")), kind, name, argv)
        report.append((name, argv, base_rss, rss))
        assert (base_code, code) == (0, 0), (name, argv)
        assert rss - base_rss < RSS_HEADROOM_KB, f"{name} {argv}: peak RSS {rss} KB, {rss - base_rss} KB over its baseline"
    print("\n".join(f"{name} {' '.join(argv)}: peak RSS {rss // 1024} MB (empty server: {base // 1024} MB)"
                    for name, argv, base, rss in report))

    metrics = json.loads((tmp_path / "big-state" / "metrics-summary.json").read_text())
    assert metrics["requests"]["length"] == MILLION
    assert metrics["tables"]["x"]["huge"]["items"] == MILLION
    assert metrics["malformed"]["non_numeric"] >= 1
    bans = json.loads((tmp_path / "big-state" / "bans-summary.json").read_text())["last_pass"]
    assert bans["malformed_kinds"]["too-large"] == 2
    assert bans["wrong_type"] == 6
    assert snapshot(client, keys) == before
    figures.record("hostile_cases", len(keys))
    figures.record("hostile_runs_survived", 2 * len(ENTRIES))
