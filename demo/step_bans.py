"""Demo step: bans survive Redis losing them, and a real unban stays an unban (redissync-bans)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.bans import write_ban
from harness.jobrun import run_job_file
from redissync.bans.summary import pass_line


def _last_pass() -> dict:
    summary = json.loads((Path(os.environ["REDISSYNC_STATE_DIR"]) / "bans-summary.json").read_text())
    return summary["last_pass"]


def _pass(ctx, label: str) -> dict:
    code = run_job_file("redissync-bans", ctx.env)
    last = _last_pass()
    ctx.say(f"  redissync-bans ({label}): exit {code}: {pass_line(last)}")
    return last


def _show(ctx, client, keys: list[str]) -> None:
    for key in keys:
        ttl = client.pttl(key)
        state = "MISSING" if ttl == -2 else ("permanent" if ttl == -1 else f"{ttl / 1000:7.0f} s left")
        ctx.say(f"    {key:<52} {state}")


def run(ctx) -> None:
    ctx.title("Bans that survive Redis: redissync-bans (every minute) journals every ban and restores lost ones")
    client = ctx.topology.master.client()
    keys = [write_ban(client, f"203.0.113.{i}", ttl=3600 * (i + 1)) for i in range(3)]
    keys.append(write_ban(client, "2001:db8::66", service="shop_ip_v2.example.com", reason="antibot", ttl=900))
    keys.append(write_ban(client, "198.51.100.7", ttl=None, reason="manual"))
    client.set("bans_ip_198.51.100.8", "bad behavior", ex=600)  # badbehavior's plain-string write: kept as is
    keys.append("bans_ip_198.51.100.8")
    ctx.say("Bans written the way instances write them (SET bans_… <json> EX ttl; one permanent, one service-scoped):")
    _show(ctx, client, keys)
    _pass(ctx, "journals them")

    client.flushall()
    ctx.say("FLUSHALL (what a restart without persistence does): every node now forgets who is banned")
    _show(ctx, client, keys[:2])
    _pass(ctx, "after the loss")
    ctx.say("Every ban is back with its remaining TTL (permanent stays permanent):")
    _show(ctx, client, keys)

    ip = "203.0.113.0"
    client.set(f"plugin_bad_behavior_{ip}", 9, ex=60)
    client.delete(keys[0])  # what BunkerWeb's unban does
    ctx.say(f"Unban {ip} through BunkerWeb (DEL {keys[0]}); its bad-behaviour counter is still 9")
    _pass(ctx, "after the unban")
    ctx.say(f"  counter plugin_bad_behavior_{ip}: {'gone' if not client.exists(f'plugin_bad_behavior_{ip}') else 'still there'}"
            " (BunkerWeb #3818: the IP is not re-banned on its next request)")
    client.flushall()
    _pass(ctx, "another loss")
    ctx.say(f"  {keys[0]}: {'still unbanned' if not client.exists(keys[0]) else 'RESURRECTED'}; "
            f"the other {sum(client.exists(k) for k in keys[1:])} bans restored")
