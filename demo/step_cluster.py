"""Demo step: Redis Cluster (REDIS_CLUSTER_NODES, BunkerWeb 1.6.16): a real 3-master cluster with a replica each,
diagnosed as `bwcli plugin redissync check` shows it, as the least-privilege ACL user with its cluster additions; the
metrics, sessions and bans jobs and a session revoke across its masters."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from harness.acl import LEAST_PASSWORD, LEAST_USER, least_privilege_rule
from harness.cluster import ClusterTopology
from harness.jobrun import run_bwcli, run_job_file
from redissync.bans.summary import pass_line
from redissync.diagnose import diagnose
from redissync.keys import BanKey
from redissync.settings import SettingsError, load_settings


def run(ctx) -> None:
    colour = sys.stdout.isatty()
    topology = ClusterTopology(ctx.workdir / "cluster", acl=True).start()
    try:
        topology.set_user(LEAST_USER, LEAST_PASSWORD, least_privilege_rule(cluster=True))  # on every node
        client = topology.client()
        for index in range(600):  # BunkerWeb's cluster names: the IP is the hash tag
            client.set(BanKey(f"198.51.{index // 250}.{index % 250}").key_in(cluster=True), '{"reason":"demo"}', ex=3600)
        client.close()
        env = topology.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD, REDIS_TIMEOUT="1s",
                                    REDISSYNC_BW_CORE_DIR=str(ctx.core_dir),
                                    REDISSYNC_STATE_DIR=os.environ["REDISSYNC_STATE_DIR"])  # never the user's ~/.cache
        ctx.title(f"Redis Cluster: REDIS_CLUSTER_NODES=\"{env['REDIS_CLUSTER_NODES']}\" (3 masters + 3 replicas, "
                  "ACL user with +cluster|slots +command +cluster|info +cluster|nodes), 600 bans named bans_ip_{<ip>}")
        ctx.say(diagnose(env).render_text(colour=colour))

        ctx.title("A refused combination: REDIS_CLUSTER_NODES with REDIS_DATABASE=1 (BunkerWeb refuses it too)")
        try:
            load_settings({**env, "REDIS_DATABASE": "1"})
        except SettingsError as error:
            ctx.say(str(error))

        ctx.title("The metrics and sessions jobs across the masters (BunkerWeb's {requests} name; revoke one UNLINK per slot)")
        seed = topology.client()
        pipe = seed.pipeline()
        for worker in range(8):  # 8 workers' keys: their hash slots spread them over the three masters
            pipe.set(f"metrics:badbehavior_counter_bans:{worker}", worker + 1)
        for index in range(60):
            pipe.set(f"sessions_:bwsession:{index:032x}", "payload", ex=900)
        pipe.set("sessions_:bwsession:immortal", "payload")  # no TTL: bounded by the sessions job
        pipe.execute()
        seed.rpush("{requests}", *[json.dumps({"id": index}) for index in range(25)])
        seed.close()
        for job in ("redissync-metrics", "redissync-sessions"):
            code = run_job_file(job, env)
            summary = json.loads((Path(os.environ["REDISSYNC_STATE_DIR"]) / f"{job.removeprefix('redissync-')}-summary.json").read_text())
            ctx.say(f"{job} exit code {code}: {summary['summary']}")
        ctx.say("\n$ bwcli plugin redissync sessions revoke --yes")
        run_bwcli("sessions.py", env, ["revoke", "--yes"])

        ctx.title("The bans pass across the masters: one shard flushed, only that shard's bans come back")
        bans_env = {**env, "REDISSYNC_STATE_DIR": str(ctx.workdir / "cluster-state")}  # its own journal: cluster names
        for label in ("first pass", "one shard flushed"):
            if label == "one shard flushed":
                with topology.masters()[0].client() as master:
                    ctx.say(f"FLUSHALL on one master ({master.dbsize()} keys)")
                    master.flushall()
            code = run_job_file("redissync-bans", bans_env)
            last = json.loads((Path(bans_env["REDISSYNC_STATE_DIR"]) / "bans-summary.json").read_text())["last_pass"]
            ctx.say(f"redissync-bans ({label}) exit code {code}: {pass_line(last)}")
    finally:
        topology.stop()
