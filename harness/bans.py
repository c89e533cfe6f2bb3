"""Bans written exactly the way BunkerWeb instances write them (docs/bunkerweb-data.md §bans), the bans job's state, and
one pass run by the job's path, for tests and the demo."""

from __future__ import annotations

import json
import time

import redis

from harness import ROOT
from redissync.bans.cycle import PassResult, reconcile
from redissync.connection import connect
from redissync.keys import BanKey
from redissync.settings import load_settings
from redissync.state import StateStore, open_state


def ban_value(ip: str, service: str | None = None, reason: str = "bad behavior", permanent: bool = False) -> str:
    return json.dumps({
        "reason": reason,
        "service": service or "unknown",
        "date": int(time.time()),
        "country": "local",
        "ban_scope": "service" if service else "global",
        "reason_data": {},
        "permanent": permanent,
    })


def write_ban(client: redis.Redis, ip: str, service: str | None = None, ttl: int | None = 86400,
              reason: str = "bad behavior") -> str:
    """``SET bans_[service_<s>_]ip_<ip> <json> EX <ttl>``; ``ttl=None`` = permanent (no expiry). Returns the key."""
    key = BanKey(ip, service).key
    value = ban_value(ip, service, reason, permanent=ttl is None)
    if ttl is None:
        client.set(key, value)
    else:
        client.set(key, value, ex=ttl)
    return key


BANS_JOB = ROOT / "jobs" / "redissync-bans.py"


def bans_state() -> StateStore:
    """The bans job's state as its next run sees it (inside BunkerWeb: restored from the database copy)."""
    return open_state(BANS_JOB)


def run_pass(server) -> PassResult:
    """One bans pass on ``server`` (a server or a cluster: its ``settings_env()``) by the job's path: settings,
    connection, pass on the job's state."""
    client = connect(load_settings(server.settings_env()))
    try:
        return reconcile(client, bans_state())
    finally:
        client.close()


def no_script_client(server) -> redis.Redis:
    """A user that may do everything but run scripts (an ACL without +@scripting)."""
    server.client().execute_command("ACL", "SETUSER", "noscript", "reset", "on", ">noscript-pw", "~*", "+@all", "-@scripting")
    return redis.Redis(host="127.0.0.1", port=server.port, username="noscript", password="noscript-pw", protocol=2, socket_timeout=5)
