#!/usr/bin/env python3
"""Bench: what one Prometheus scrape costs an instance, and what the figures cost a job, with 100k bans journaled.

Same nginx (redissync.lua through the harness's stand-ins of BunkerWeb's Lua), same Redis, same run:

* a scrape, ``GET /metrics`` on REDISSYNC_PROMETHEUS_LISTEN, against the baseline ``POST /redissync/ping``
  (the PING alone through the same Lua and pool); median of 300 each, every job's figures pushed, first with
  no ban journaled, then with 100k: the page never reads the journal, so the two must match;
* the figures at the end of a bans run (``figures.job_ended``: record, render, push to the instance) against
  the steady bans pass they follow; median of 20.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]

from harness import bwjob  # noqa: E402
from harness.jobrun import run_job_file  # noqa: E402
from harness.plugin_nginx import plugin_nginx  # noqa: E402
from harness.servers import RedisServer, free_port  # noqa: E402
from redissync.figures import job_ended  # noqa: E402
from redissync.state import open_state  # noqa: E402

BANS = 100_000
SCRAPES = 300
JOB_ROUNDS = 20
JOBS = ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions")


def populate(client) -> None:
    value = json.dumps({"reason": "bad behavior", "service": "unknown", "date": int(time.time()), "country": "local",
                        "ban_scope": "global", "reason_data": {}, "permanent": False})
    pipe = client.pipeline(transaction=False)
    for i in range(BANS):
        pipe.set(f"bans_ip_10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", value, ex=86400)
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()


def timed_get(request: urllib.request.Request | str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        size = len(response.read())
    return (time.perf_counter() - started) * 1000, size


def scrape_vs_ping(server, port: int) -> tuple[float, float, int]:
    """Medians of a scrape and of the PING, interleaved so that load from elsewhere hits both alike."""
    ping = urllib.request.Request(server.url + "/redissync/ping", data=b"", method="POST")
    for _ in range(20):  # warm the pool and the Lua code cache
        timed_get(ping)
    scrapes, pings, size = [], [], 0
    for _ in range(SCRAPES):
        elapsed, size = timed_get(f"http://127.0.0.1:{port}/metrics")
        scrapes.append(elapsed)
        pings.append(timed_get(ping)[0])
    return statistics.median(scrapes), statistics.median(pings), size


def main() -> int:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="redissync-bench-scrape-") as tmp:
        workdir = Path(tmp)
        redis_server = RedisServer(workdir / "redis").start()
        port = free_port()
        os.environ["REDISSYNC_BW_CORE_DIR"] = str(workdir / "no-core")
        env = redis_server.settings_env(REDISSYNC_PROMETHEUS_LISTEN=f"127.0.0.1:{port}")
        nginx, _ = plugin_nginx(workdir / "nginx", env)
        bunkerweb = bwjob.StandInBunkerWeb(workdir / "bunkerweb")
        bwjob.install()
        os.environ.pop("REDISSYNC_STATE_DIR", None)
        os.environ.update(bunkerweb.env)
        try:
            nginx.start()
            bunkerweb.db.add_instance("127.0.0.1", name="bw-1", port=nginx.port, server_name="bwapi")
            job_env = {**env, **bunkerweb.env}
            for job in JOBS:  # every job's figures pushed, no ban yet
                assert run_job_file(job, job_env) == 0, job
            empty = scrape_vs_ping(nginx, port)
            populate(redis_server.client())
            for job in JOBS:
                assert run_job_file(job, job_env) == 0, job
            passes = []
            for _ in range(3):
                started = time.perf_counter()
                assert run_job_file("redissync-bans", job_env) == 0
                passes.append((time.perf_counter() - started) * 1000)
            full = scrape_vs_ping(nginx, port)
            state = open_state(ROOT / "jobs" / "redissync-bans.py", job_env)
            figures = []
            for _ in range(JOB_ROUNDS):
                started = time.perf_counter()
                job_ended("redissync-bans", lambda: state, True, 0.1, "", logging.getLogger("bench"))
                figures.append((time.perf_counter() - started) * 1000)
        finally:
            nginx.stop()
            redis_server.stop()
    journaled = f"{BANS:,}"
    print(f"one scrape (GET /metrics), median of {SCRAPES}, vs the PING alone (POST /redissync/ping) on the same nginx:")
    for label, (scrape_ms, ping_ms, size) in (("no ban journaled", empty), (f"{journaled} bans journaled", full)):
        print(f"  {label:>26}: {scrape_ms:.2f} ms vs {ping_ms:.2f} ms = {scrape_ms / ping_ms:.2f}x the PING ({size:,} B page)")
    print(f"  with {journaled} bans vs none, each against its own PING: {(full[0] / full[1]) / (empty[0] / empty[1]):.2f}x "
          "(the page never reads the journal)")
    steady = statistics.median(passes)
    cost = statistics.median(figures)
    print(f"figures after a bans run (record, render, push to 1 instance), median of {JOB_ROUNDS}: {cost:.2f} ms "
          f"= {cost / steady:.3f}x the steady bans pass over {journaled} bans ({steady:.0f} ms, median of 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
