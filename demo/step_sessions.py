"""Demo step: count sessions cluster-wide, bound the immortal ones, then log one cookie's users out."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.jobrun import run_bwcli, run_job_file


def run(ctx) -> None:
    ctx.title("Sessions: counts, hygiene and revoke (redissync-sessions hourly, bwcli sessions)")
    client = ctx.topology.master.client()
    pipe = client.pipeline(transaction=False)
    for i in range(40):
        pipe.set(f"sessions_:bwsession:{i:032x}", "payload", ex=300 + 120 * i)
    for i in range(10):
        pipe.set(f"sessions_:shop:{i:032x}", "payload", ex=1800)
    pipe.set("sessions_:bwsession:immortal", "payload")  # no TTL: would outlive every timeout
    pipe.set("bunkerweb_ui_session:admin", "ui", ex=3600)
    pipe.execute()
    code = run_job_file("redissync-sessions", ctx.env)
    summary = json.loads((Path(os.environ["REDISSYNC_STATE_DIR"]) / "sessions-summary.json").read_text())
    ctx.say(f"exit code {code}: {summary['summary']}")
    ctx.say(f"immortal session now expires in {client.ttl('sessions_:bwsession:immortal')} s (SESSIONS_ABSOLUTE_TIMEOUT)")
    ctx.say("\n$ bwcli plugin redissync sessions stats")
    run_bwcli("sessions.py", ctx.env, ["stats"])
    ctx.say("\n$ bwcli plugin redissync sessions revoke --cookie shop")
    run_bwcli("sessions.py", ctx.env, ["revoke", "--cookie", "shop"])
    ctx.say("\n$ bwcli plugin redissync sessions revoke --cookie shop --yes")
    run_bwcli("sessions.py", ctx.env, ["revoke", "--cookie", "shop", "--yes"])
    ctx.say(f"left: {len(list(client.scan_iter('sessions_:*')))} sessions (bwsession untouched)")
