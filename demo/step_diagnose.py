"""Demo step: `bwcli plugin redissync check` on the embedded Redis + Sentinel, as a user sees it."""

from __future__ import annotations

import sys

from redissync.diagnose import diagnose


def run(ctx) -> None:
    colour = sys.stdout.isatty()
    ctx.title("Diagnosis inside BunkerWeb: bwcli plugin redissync check (the redissync-check job runs the same "
              "every minute), BunkerWeb 1.6.16: its core redis plugin owns REDIS_*, REDIS_TIMEOUT=1s "
              "(a bare number is milliseconds)")
    ctx.say(diagnose(ctx.env).render_text(colour=colour))

    ctx.title("The same cluster outside BunkerWeb (no core redis plugin): redissync's own table, "
              "REDIS_TIMEOUT=2 is seconds")
    standalone = diagnose(ctx.standalone_env).render_text(colour=colour).splitlines()
    ctx.say("\n".join(line for line in standalone if "configuration" in line or "note:" in line))

    ctx.title("Diagnosis of a typical mistake: REDIS_SENTINEL_MASTER=bunkerweb (the sentinels monitor 'mymaster')")
    report = diagnose({**ctx.env, "REDIS_SENTINEL_MASTER": "bunkerweb"})
    ctx.say(report.render_text(colour=colour).splitlines()[-1])

    ctx.title("Diagnosis of another: REDIS_HOST pointed at the replica instead of the sentinels")
    replica = {key: value for key, value in ctx.env.items() if not key.startswith("REDIS_SENTINEL")}
    replica.update(REDIS_HOST="127.0.0.1", REDIS_PORT=str(ctx.topology.replica.port))
    ctx.say(diagnose(replica).render_text(colour=colour).splitlines()[-1])
