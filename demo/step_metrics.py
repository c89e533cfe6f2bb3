"""Demo step: the metrics job sums every worker's counters and bounds the keys a dead worker left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.jobrun import run_job_file


def run(ctx) -> None:
    ctx.title("Metrics: one cluster-wide view (redissync-metrics, every minute)")
    client = ctx.topology.master.client()
    pipe = client.pipeline(transaction=False)
    for worker in range(4):  # two instances x two workers, as metrics.lua writes them
        pipe.set(f"metrics:badbehavior_counter_bans:{worker}", 10 * (worker + 1))
        pipe.set(f"metrics:antibot_counter_passed:{worker}", 100 + worker)
        pipe.rpush(f"metrics:country_table_blocked:{worker}", json.dumps({"country": "FR"}), json.dumps({"country": "US"}))
    pipe.set("metrics:badbehavior_counter_bans:7", "oops")  # a malformed value: skipped and counted
    pipe.rpush("requests", *[json.dumps({"id": i, "ip": "203.0.113.9"}) for i in range(25)])
    pipe.execute()
    ctx.say("seeded 4 workers' counters and tables, one malformed counter, 25 blocked requests")
    code = run_job_file("redissync-metrics", {**ctx.env, "METRICS_MAX_BLOCKED_REQUESTS_REDIS": "20"})
    summary = json.loads((Path(os.environ["REDISSYNC_STATE_DIR"]) / "metrics-summary.json").read_text())
    ctx.say(f"exit code {code}: {summary['summary']}")
    ctx.say(f"counters: {json.dumps(summary['counters'])}")
    ctx.say(f"tables:   country/blocked holds {summary['tables']['country']['blocked']['items']} items from "
            f"{summary['tables']['country']['blocked']['workers']} workers")
    ctx.say(f"keys per category: {summary['server']['keys']}; {summary['series_points']} point(s) in the 24 h series")
    ctx.say(f"server: role {summary['server']['role']}, {summary['server']['clients']} clients, replication lag "
            f"{summary['server']['lag']} s / {summary['server']['lag_bytes']} bytes")
    ctx.say("the requests list is over its cap: reported, and left for BunkerWeb to trim (its facets depend on it)")
