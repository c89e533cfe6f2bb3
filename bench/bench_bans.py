#!/usr/bin/env python3
"""Bench: one full redissync-bans pass over 100k bans vs a naive per-key reader and redis-benchmark.

Same server, same run: (a) the naive baseline does SCAN + one GET and one TTL per key (what a
straightforward job would do), (b) ``redis-benchmark -P 16 -t get`` is the server's own pipelined ceiling.
Prints bans/s and both ratios; then the peak RSS of a pass over 1M bans, measured in a subprocess.
Targets: ≥ 25× naive, ≥ 200k bans/s, < 200 MB for 1M bans (in a state directory and inside BunkerWeb).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]

from redissync.bans import reconcile  # noqa: E402
from redissync.state import StateStore  # noqa: E402
from tests.bed.servers import RedisServer  # noqa: E402

BANS = 100_000
BIG = 1_000_000
TARGET_NAIVE_RATIO = 25
TARGET_RATE = 200_000
TARGET_RSS_MB = 200

# Bans written the way instances write them (docs/bunkerweb-data.md §bans): JSON value, EX ttl, some permanent, some
# service-scoped; generated server-side so populating 1M keys takes a second, not a minute.
_POPULATE = """
local first, last, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = first, last do
  local ip = '10.' .. (math.floor(i / 65536) % 256) .. '.' .. (math.floor(i / 256) % 256) .. '.' .. (i % 256)
  local service = (i % 5 == 0) and ('app' .. (i % 7) .. '.example.com') or nil
  local key = service and ('bans_service_' .. service .. '_ip_' .. ip) or ('bans_ip_' .. ip)
  local value = cjson.encode({reason = (i % 3 == 0) and 'antibot' or 'bad behavior', service = service or 'unknown',
    date = now - (i % 3600), country = 'local', ban_scope = service and 'service' or 'global', reason_data = {},
    permanent = (i % 50 == 0)})
  if i % 50 == 0 then redis.call('SET', key, value) else redis.call('SET', key, value, 'EX', 3600 + (i % 86400)) end
end
return last - first + 1
"""

_RSS_CHILD = """
import json, logging, resource, sys, time
sys.path[:0] = [{jobs!r}]
import redis
from pathlib import Path
from redissync.bans import reconcile
from redissync.state import StateStore
client = redis.Redis(port={port}, protocol=2, socket_timeout=60)
state = StateStore(Path({state!r}))
reconcile(client, state, logging.getLogger("bench"))  # first pass: 1M bans journaled
started = time.monotonic()
result = reconcile(client, state, logging.getLogger("bench"))  # steady pass: the full index in memory
print(json.dumps({{"seen": result.seen, "seconds": time.monotonic() - started,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


# Inside BunkerWeb (the Job stand-in, tests/bed/bwjob.py): the archive the job cache holds for 1M bans,
# what a steady pass with 100 changed bans writes to BunkerWeb's database, and a rebuild after the
# scheduler container is replaced.
_ARCHIVE_CHILD = """
import json, logging, os, resource, sys, time
sys.path[:0] = [{jobs!r}, {root!r}]
import redis
from pathlib import Path
from tests.bed import bwjob
from tests.bed.bans import bans_state
from redissync.bans import reconcile
from redissync.bans.archive import open_journal
bunkerweb = bwjob.StandInBunkerWeb(Path({folder!r}))
os.environ.update(bunkerweb.env)
os.environ.pop("REDISSYNC_STATE_DIR", None)
bwjob.install()
client = redis.Redis(port={port}, protocol=2, socket_timeout=60)
log = logging.getLogger("bench")
started = time.monotonic()
first = reconcile(client, bans_state(), log)
first_s = time.monotonic() - started
files = {{name: len(data) for name, data in bunkerweb.cached().items() if name.startswith("bans-") and name != "bans-summary.json"}}
keys = [key for _, key in zip(range(100), client.scan_iter(match="bans_ip_*", count=1000))]
for key in keys:
    client.set(key, client.get(key).replace(b'"country"', b'"changed":1,"country"'), keepttl=True)
written = bunkerweb.bytes_written()
steady = reconcile(client, bans_state(), log)
steady_total = bunkerweb.bytes_written() - written
bunkerweb.replace_scheduler()
started = time.monotonic()
with open_journal(bans_state()) as journal:
    rebuilt = journal.count()
rebuild_s = time.monotonic() - started
print(json.dumps({{"bans": first.seen, "first_s": first_s, "archive": sum(files.values()), "largest": max(files.values()),
                  "files": len(files), "steady_changed": steady.changed, "steady_journal": steady.saved_bytes,
                  "steady_total": steady_total, "rebuilt": rebuilt, "rebuild_s": rebuild_s,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def populate(client, count: int) -> None:
    script = client.register_script(_POPULATE)
    now = int(time.time())
    for first in range(0, count, 50_000):
        script(args=[first, min(count, first + 50_000) - 1, now])


def naive_pass(client) -> tuple[int, float]:
    started = time.monotonic()
    seen = 0
    for pattern in ("bans_ip_*", "bans_service_*_ip_*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.get(key)
            client.ttl(key)
            seen += 1
    return seen, time.monotonic() - started


def redis_benchmark_get(port: int, requests: int = 2_000_000) -> float:
    binary = shutil.which("redis-benchmark")
    if not binary:
        return float("nan")
    output = subprocess.run([binary, "-p", str(port), "-P", "16", "-t", "get", "-n", str(requests), "-q"],
                            capture_output=True, text=True, timeout=300).stdout
    match = re.search(r"GET: ([\d.]+) requests per second", output.replace("\r", "\n"))
    return float(match.group(1)) if match else float("nan")


ROUNDS = 5  # each pass's rate is the best of this many runs: the machine's noise only ever slows a run down
NAIVE_ROUNDS = 3  # the naive reader takes ~17 s a run


def timed_pass(client, state: StateStore) -> tuple[object, float, float, float]:
    """One pass: its result, wall seconds, our CPU seconds (every thread) and Redis's seconds in the pass's
    scripts (INFO commandstats), which tell whose side bounds the rate."""
    client.config_resetstat()
    started, cpu = time.monotonic(), time.process_time()
    result = reconcile(client, state, logging.getLogger("bench"))
    wall, ours = time.monotonic() - started, time.process_time() - cpu
    server = sum(stats["usec"] for name, stats in client.info("commandstats").items() if name.startswith("cmdstat_eval")) / 1e6
    return result, wall, ours, server


def best(runs: list[tuple[object, float, float, float]]) -> tuple[object, float, float, float]:
    return min(runs, key=lambda run: run[1])


def measure_100k(client, tmp: str) -> dict:
    """First pass, steady pass and restore after FLUSHALL over :data:`BANS` bans, and the naive reader."""
    populate(client, BANS)
    firsts = [timed_pass(client, StateStore(Path(tmp) / f"state-{n}")) for n in range(ROUNDS)]  # a fresh journal each
    state = StateStore(Path(tmp) / f"state-{ROUNDS - 1}")
    steadies = [timed_pass(client, state) for _ in range(ROUNDS)]
    restores = []
    for _ in range(ROUNDS):
        client.flushall()
        restores.append(timed_pass(client, state))  # every ban written back from the journal
    naive = min((naive_pass(client) for _ in range(NAIVE_ROUNDS)), key=lambda run: run[1])
    return {"first": best(firsts), "steady": best(steadies), "restore": best(restores), "naive": naive,
            "redis_benchmark": redis_benchmark_get(client.connection_pool.connection_kwargs["port"])}


def report_100k(figures: dict) -> list[bool]:
    """Print the 100k-ban rates with their ratios to the naive reader; which targets were met."""
    naive_seen, naive_s = figures["naive"]
    naive_rate = naive_seen / naive_s
    print(f"bans in Redis:            {BANS} (each rate: best of {ROUNDS} runs, the naive reader's of {NAIVE_ROUNDS})")
    print(f"naive SCAN+GET+TTL:       {naive_rate:>10,.0f} bans/s ({naive_seen} keys, {naive_s:.2f} s)")
    met = []
    for label, name, field in (("pass, steady", "steady", "seen"), ("pass, first", "first", "new"),
                               ("restore after FLUSHALL", "restore", "restored")):
        result, wall, ours, server = figures[name]
        count = getattr(result, field)
        rate = count / wall
        fast, ahead = rate >= TARGET_RATE, rate / naive_rate >= TARGET_NAIVE_RATIO
        met.append(fast and ahead)
        print(f"{label + ':':26}{rate:>10,.0f} bans/s = {rate / naive_rate:5.1f}x naive  ({count} in {wall:.3f} s; CPU: "
              f"redissync {ours:.2f} s, Redis scripts {server:.2f} s)  {TARGET_NAIVE_RATIO}x {'met' if ahead else 'MISSED'}, "
              f"{TARGET_RATE // 1000}k/s {'met' if fast else 'MISSED'}")
    bench_get = figures["redis_benchmark"]
    steady_rate = figures["steady"][0].seen / figures["steady"][1]
    print(f"redis-benchmark -P 16 GET:{bench_get:>10,.0f} GET/s; steady pass / redis-benchmark: {steady_rate / bench_get:.2f} "
          "(bans per GET the server serves pipelined)")
    print(f"targets: >= {TARGET_RATE:,} bans/s and >= {TARGET_NAIVE_RATIO}x the naive reader, each measured in this run")
    return met


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="redissync-bench-bans-") as tmp:
        server = RedisServer(Path(tmp) / "redis", name="bench").start()
        try:
            client = server.client(socket_timeout=60)
            figures = measure_100k(client, tmp)
            client.flushall()
            populate(client, BIG)
            child = subprocess.run([sys.executable, "-c", _RSS_CHILD.format(jobs=str(ROOT / "jobs"), port=server.port,
                                                                           state=str(Path(tmp) / "state-1m"))],
                                   capture_output=True, text=True, timeout=600)
            big = json.loads(child.stdout.strip().splitlines()[-1]) if child.returncode == 0 else None
            archived = subprocess.run([sys.executable, "-c", _ARCHIVE_CHILD.format(jobs=str(ROOT / "jobs"), root=str(ROOT),
                                                                                  port=server.port, folder=str(Path(tmp) / "bw"))],
                                      capture_output=True, text=True, timeout=900)
            archive = json.loads(archived.stdout.strip().splitlines()[-1]) if archived.returncode == 0 else None
        finally:
            server.stop(hard=True)

    met = report_100k(figures)
    if big:
        print(f"1M bans, steady pass:     {big['seen'] / big['seconds']:>10,.0f} bans/s, peak RSS {big['rss_mb']:.0f} MB over both passes "
              f"(target < {TARGET_RSS_MB} MB)")
    else:
        print(f"1M bans: the measuring subprocess failed: {child.stderr.strip().splitlines()[-1:]}")
    if archive:
        mib = 1024 * 1024
        print(f"inside BunkerWeb, 1M bans: archive {archive['archive'] / mib:.1f} MiB in {archive['files']} files = "
              f"{archive['archive'] / archive['bans']:.1f} B per ban (target <= 40 MB in all), largest file "
              f"{archive['largest'] / mib:.2f} MiB (limit 8 MiB)")
        print(f"  steady pass with {archive['steady_changed']} changed bans: {archive['steady_journal']:,} B of journal written "
              f"({archive['steady_total']:,} B with the UI summary; target <= 1 MiB)")
        print(f"  first pass with the archive: {archive['bans'] / archive['first_s']:,.0f} bans/s ({archive['first_s']:.1f} s); "
              f"rebuild after a replaced container: {archive['rebuilt'] / archive['rebuild_s']:,.0f} bans/s; "
              f"peak RSS {archive['rss_mb']:.0f} MB (target < {TARGET_RSS_MB} MB)")
    else:
        print(f"archive at 1M bans: the measuring subprocess failed: {archived.stderr.strip().splitlines()[-1:]}")
    checks = {"steady pass rate": met[0], "first pass rate": met[1], "restore rate": met[2],
              "1M-ban peak RSS": big is not None and big["rss_mb"] < TARGET_RSS_MB,
              "1M-ban peak RSS inside BunkerWeb": archive is not None and archive["rss_mb"] < TARGET_RSS_MB}
    missed = [name for name, ok in checks.items() if not ok]
    print("targets met" if not missed else f"TARGETS MISSED: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
