#!/usr/bin/env python3
"""Bench: the bans pass at 100k and 300k bans (``make bench``) or 1M (``make bench-1m``), against the
baselines the goals are stated in, all measured in the same run on the same server (issue 24):

* floors: ``SCAN`` alone, a server-side Lua loop answering key + value + PTTL for every ban (the value-reading
  floor) and one answering key + expiry only; a naive reader (SCAN + GET + TTL per key) and a pipelined one;
* each pass kind (first, steady, 1 % changed, restore after ``FLUSHALL``), each in a fresh process as
  BunkerWeb 1.7 runs jobs (bench/bans_child.py): whole-process rate, Redis main-thread CPU per ban
  (``INFO cpu`` user + sys deltas; commandstats counts a script's inner commands twice), the longest single
  command (``SLOWLOG`` from 1 ms, goal: none above 5 ms, read with what Redis's thread went through meanwhile:
  bench/bans_slowlog.py) and the process's peak RSS;
* the job's start-up: the imports of ``jobs/redissync-bans.py`` in a fresh interpreter (``-X importtime``).

Where it runs (bench/bans_slowlog.py ``favour``; the first line printed says which placement a run had): Redis at
nice -20, alone on the first CPU when the machine has two or more; the bench, its baselines and every pass it starts on
the others (on this 2-core machine one core for a pass, its scan and compressor threads included).

Rates are min/median of ``--rounds`` runs: this 2-core machine is shared, so absolute rates are noisy and the
ratios measured in the same run are what the goals compare.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]

from bans_report import report, stats, verdict_lines  # noqa: E402  (bench/, the script's own folder)
from bans_slowlog import command_name, favour, slow_entries, thread_counters  # noqa: E402
from bans_startup import startup  # noqa: E402

from harness.servers import RedisServer  # noqa: E402

CHILD = Path(__file__).with_name("bans_child.py")
SLOW_US = 1_000  # SLOWLOG threshold: every command above 1 ms is logged, so the longest one is known
BLOCK_GOAL_US = 5_000

# Bans written the way instances write them (docs/bunkerweb-data.md §bans): JSON value, EX ttl, some permanent,
# some service-scoped; generated server-side so that populating 1M keys takes seconds, not minutes.
_POPULATE = """
local first, last, now, tag = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for i = first, last do
  local ip = tag .. (math.floor(i / 65536) % 256) .. '.' .. (math.floor(i / 256) % 256) .. '.' .. (i % 256)
  local service = (i % 5 == 0) and ('app' .. (i % 7) .. '.example.com') or nil
  local key = service and ('bans_service_' .. service .. '_ip_' .. ip) or ('bans_ip_' .. ip)
  local value = cjson.encode({reason = (i % 3 == 0) and 'antibot' or 'bad behavior', service = service or 'unknown',
    date = now - (i % 3600), country = 'local', ban_scope = service and 'service' or 'global', reason_data = {},
    permanent = (i % 50 == 0)})
  if i % 50 == 0 then redis.call('SET', key, value) else redis.call('SET', key, value, 'EX', 3600 + (i % 86400)) end
end
return last - first + 1
"""

# 1 % of the bans change between two passes, as BunkerWeb changes them: half re-banned (a new value and a
# fresh expiry), a quarter unbanned (DEL), a quarter new IPs.
_CHANGE = """
local cursor, wanted, now, round = '0', tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local done, reban, unban = 0, 0, 0
repeat
  local reply = redis.call('SCAN', cursor, 'MATCH', 'bans_ip_*', 'COUNT', 1000)
  cursor = reply[1]
  for _, key in ipairs(reply[2]) do
    if done >= wanted * 3 / 4 then break end
    if done % 3 == 2 then
      redis.call('DEL', key)
      unban = unban + 1
    else
      redis.call('SET', key, cjson.encode({reason = 'rebanned', service = 'unknown', date = now, country = 'local',
        ban_scope = 'global', reason_data = {}, permanent = false}), 'EX', 7200 + done)
      reban = reban + 1
    end
    done = done + 1
  end
until cursor == '0' or done >= wanted * 3 / 4
for i = 1, wanted - done do
  redis.call('SET', 'bans_ip_172.' .. round .. '.' .. math.floor(i / 256) .. '.' .. (i % 256),
    cjson.encode({reason = 'new', service = 'unknown', date = now, country = 'local', ban_scope = 'global',
    reason_data = {}, permanent = false}), 'EX', 3600)
end
return {reban, unban, wanted - done}
"""

# The floors: every ban read by a script on the server, batch by batch, the client only counting.
_FLOOR_VALUE = """
local reply = redis.call('SCAN', ARGV[1], 'MATCH', 'bans_*', 'COUNT', 1000)
local out, n = {}, 0
for _, key in ipairs(reply[2]) do
  out[n + 1], out[n + 2], out[n + 3] = key, redis.call('GET', key), redis.call('PTTL', key)
  n = n + 3
end
return {reply[1], out}
"""
_FLOOR_EXPIRY = _FLOOR_VALUE.replace("key, redis.call('GET', key), redis.call('PTTL', key)", "key, redis.call('{expiry}', key), 0")


def populate(client, count: int, tag: str = "10.") -> None:
    script = client.register_script(_POPULATE)
    now = int(time.time())
    for first in range(0, count, 50_000):
        script(args=[first, min(count, first + 50_000) - 1, now, tag])


class Server:
    """The bench's Redis and the server-side measures: main-thread CPU, the longest command and, beside it, what
    the machine did to Redis's thread meanwhile."""

    def __init__(self, client, pid: int):
        self.client = client
        self.pid = pid
        client.config_set("slowlog-log-slower-than", SLOW_US)
        client.config_set("slowlog-max-len", 10_000)
        version = client.info("server")["redis_version"]
        self.version = version
        self.has_expiretime = tuple(int(part) for part in version.split(".")[:2]) >= (7, 0)

    def cpu(self) -> float:
        info = self.client.info("cpu")
        if "used_cpu_user_main_thread" in info:
            return info["used_cpu_user_main_thread"] + info["used_cpu_sys_main_thread"]
        return info["used_cpu_user"] + info["used_cpu_sys"]

    def measured(self, work) -> dict:
        """Run ``work()`` (→ dict); add Redis's main-thread CPU seconds, the slow commands it caused and the
        preemptions, waits for a core and page faults of Redis's thread meanwhile."""
        self.client.slowlog_reset()
        cpu, ours, thread = self.cpu(), time.process_time(), thread_counters(self.pid)
        figures = work()
        figures["redis_cpu"] = self.cpu() - cpu
        figures.setdefault("cpu", time.process_time() - ours)  # a pass in a child process reports its own
        figures.update({name: value - thread[name] for name, value in thread_counters(self.pid).items()})
        slow = slow_entries(self.client)
        longest = max(slow, key=lambda entry: entry["duration"], default=None)
        figures["longest_us"] = longest["duration"] if longest else 0
        figures["longest_cmd"] = command_name(longest["command"]) if longest else ""
        blocking = [command_name(entry["command"]) for entry in slow if entry["duration"] > BLOCK_GOAL_US]
        figures["blocking"] = len(blocking)
        figures["blocking_cmds"] = dict(Counter(blocking))
        return figures


def floor(client, script_text: str) -> dict:
    script = client.register_script(script_text)
    started, cursor, seen = time.monotonic(), b"0", 0
    while True:
        cursor, flat = script(args=[cursor])
        seen += len(flat) // 3
        if cursor in (b"0", 0):
            break
    return {"seen": seen, "seconds": time.monotonic() - started}


def scan_only(client) -> dict:
    started = time.monotonic()
    seen = sum(1 for _ in client.scan_iter(match="bans_*", count=1000))
    return {"seen": seen, "seconds": time.monotonic() - started}


def naive(client, pipelined: bool) -> dict:
    """SCAN, then GET + TTL for every ban key: one round trip each, or one pipeline per SCAN batch."""
    started, seen, cursor = time.monotonic(), 0, 0
    while True:
        cursor, keys = client.scan(cursor, match="bans_*", count=1000)
        if pipelined:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
                pipe.ttl(key)
            pipe.execute()
        else:
            for key in keys:
                client.get(key)
                client.ttl(key)
        seen += len(keys)
        if cursor == 0:
            break
    return {"seen": seen, "seconds": time.monotonic() - started}


def child_pass(port: int, folder: Path, bunkerweb: bool) -> dict:
    """One pass in a fresh process; ``folder`` is its state directory, or its stand-in BunkerWeb's folder."""
    command = [sys.executable, str(CHILD), str(port), str(folder)] + (["bunkerweb"] if bunkerweb else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise RuntimeError(f"the pass failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rounds(server: Server, work, count: int, before=None) -> list[dict]:
    runs = []
    for number in range(count):
        if before is not None:
            before(number)
        runs.append(server.measured(work))
    return runs


def measure(server: Server, port: int, size: int, folder: Path, count: int, bunkerweb: bool) -> dict:
    client = server.client
    client.flushall()
    populate(client, size)
    client.slowlog_reset()
    expiry = "PEXPIRETIME" if server.has_expiretime else "PTTL"
    figures: dict = {
        "scan": rounds(server, lambda: scan_only(client), count),
        "floor_value": rounds(server, lambda: floor(client, _FLOOR_VALUE), count),
        "floor_expiry": rounds(server, lambda: floor(client, _FLOOR_EXPIRY.replace("{expiry}", expiry)), count),
        "pipelined": rounds(server, lambda: naive(client, pipelined=True), count),
        "expiry_command": expiry,
    }
    if size <= 100_000:
        figures["naive"] = rounds(server, lambda: naive(client, pipelined=False), 1)
    mode = folder / "journal"

    def first() -> dict:
        shutil.rmtree(folder / "first", ignore_errors=True)  # a fresh journal each time
        return child_pass(port, folder / "first", bunkerweb)

    figures["first"] = rounds(server, first, count)

    def one() -> dict:
        return child_pass(port, mode, bunkerweb)

    one()  # the journal the next passes work from
    figures["steady"] = rounds(server, one, count)
    changes = client.register_script(_CHANGE)
    figures["changed"] = rounds(server, one, count,
                                before=lambda number: changes(args=[size // 100, int(time.time()), 100 + number]))
    one()  # settle the last change
    figures["restore"] = rounds(server, one, count, before=lambda number: client.flushall())
    if bunkerweb:
        figures["cache_bytes"] = _cache_bytes(mode)
    return figures


def _cache_bytes(folder: Path) -> dict:
    import sqlite3

    with sqlite3.connect(folder / "db.sqlite3") as db:
        rows = db.execute("SELECT file_name, length(data) FROM bw_jobs_cache WHERE file_name LIKE 'bans-%'").fetchall()
    return {name: size for name, size in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000", help="comma-separated ban counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bunkerweb", action="store_true", help="also run every pass kind inside the stand-in BunkerWeb")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    verdicts: dict = {"big": max(sizes) >= 1_000_000}
    launch = startup()
    low, mid = stats(launch["ms"])
    cpu_low, cpu_mid = stats(launch["cpu_ms"])
    verdicts["startup_ms"] = cpu_mid
    plain_low, plain_mid = stats(launch["redis_cpu_ms"])
    print(f"job start-up, fresh interpreter importing jobs/redissync-bans.py's modules: imports {low:.0f} / {mid:.0f} ms "
          f"wall (-X importtime), process CPU {cpu_low:.0f} / {cpu_mid:.0f} ms (min / median of 7; a plain `python -c "
          f"'import redis'` alongside: {plain_low:.0f} / {plain_mid:.0f} ms); redis.asyncio and importlib.metadata {launch['asyncio']}")
    with tempfile.TemporaryDirectory(prefix="redissync-bench-bans-") as tmp:
        server_process = RedisServer(Path(tmp) / "redis", name="bench").start()
        try:
            server = Server(server_process.client(socket_timeout=120), server_process.process.pid)
            print(f"Redis {server.version}, {favour(server_process.process.pid)}")
            for size in sizes:
                modes = [False, True] if args.bunkerweb else [False]
                for bunkerweb in modes:
                    folder = Path(tmp) / f"{size}-{'bw' if bunkerweb else 'dir'}"
                    folder.mkdir()
                    figures = measure(server, server_process.port, size, folder, args.rounds, bunkerweb)
                    if bunkerweb:
                        print("inside BunkerWeb (stand-in job cache, SQLite working copy):")
                    report(size, figures, verdicts)
                    sys.stdout.flush()
        finally:
            server_process.stop(hard=True)
    print("goals (issue 24):")
    print("\n".join(verdict_lines(verdicts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
