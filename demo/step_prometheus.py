"""Demo step: what Prometheus scrapes from an instance (docs/observability.md).

A real nginx runs redissync.lua (through the harness's stand-ins of BunkerWeb's Lua, harness/lua) with
REDISSYNC_PROMETHEUS_LISTEN set; the four jobs run inside a stand-in BunkerWeb (harness/bwjob.py: its job
cache in a database, its instance list naming this nginx), so after each run they POST their figures to it
exactly as they would to a real instance. Redis then loses its data, and the next bans pass restores the bans.
"""

from __future__ import annotations

import os
import sys
import urllib.request

from harness import bwjob
from harness.jobrun import run_job_file
from harness.plugin_nginx import plugin_nginx
from harness.servers import free_port

JOBS = ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions")


def run(ctx) -> None:
    ctx.title("Prometheus: the figures every instance serves (GET /redissync/metrics on its API, or /metrics "
              "on REDISSYNC_PROMETHEUS_LISTEN)")
    port = free_port()
    server, _ = plugin_nginx(ctx.workdir / "nginx", {**ctx.env, "REDISSYNC_PROMETHEUS_LISTEN": f"127.0.0.1:{port}"},
                              core_dir=ctx.core_dir)
    bunkerweb = bwjob.StandInBunkerWeb(ctx.workdir / "bunkerweb")
    state_dir = os.environ.pop("REDISSYNC_STATE_DIR")  # inside BunkerWeb, state lives in its job cache
    saved_jobs = sys.modules.get("jobs")
    bwjob.install()
    try:
        server.start()
        bunkerweb.db.add_instance("127.0.0.1", name="bw-1", port=server.port, server_name="bwapi")
        env = {**ctx.env, **bunkerweb.env}
        codes = [run_job_file(job, env) for job in JOBS]
        ctx.say(f"the four jobs ran inside a STAND-IN BunkerWeb (exit codes {codes}) and sent their figures to a real nginx")
        ctx.topology.master.client().flushall()
        ctx.say("FLUSHALL on the master (Redis loses its data); the next bans pass restores the journaled bans:")
        ctx.say(f"  redissync-bans exit code {run_job_file('redissync-bans', env)}")
        ctx.say(f"\n$ curl http://127.0.0.1:{port}/metrics")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            ctx.say(response.read().decode().rstrip())
    finally:
        server.stop()
        os.environ["REDISSYNC_STATE_DIR"] = state_dir
        if saved_jobs is None:
            sys.modules.pop("jobs", None)
        else:
            sys.modules["jobs"] = saved_jobs
