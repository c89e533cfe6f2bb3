"""The page's states, produced by the real jobs against the real test bed (no hand-written report JSON).

Each builder seeds BunkerWeb-format data (bans, sessions, metrics counters: the keys BunkerWeb's Lua
writes, docs/bunkerweb-data.md) into a real Redis, runs the real job files as BunkerWeb runs them, and returns the
environment whose REDISSYNC_STATE_DIR holds the cached reports. The metrics job's time series needs
several minutes of points: the earlier minutes come from the job's own pass function called with a past
``now`` (what the job does each minute), the last one from the job file itself.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from harness.jobrun import ROOT, run_job_file
from redissync.connection import connect
from redissync.diagnose.protocol import server_identity
from redissync.metrics import cycle as metrics
from redissync.settings import load_settings
from redissync.state import open_state

CHECK_RUNS = 6
METRIC_MINUTES = 12


@dataclass
class InstancesStandIn:
    """Stands in for BunkerWeb's ``InstancesUtils`` (the UI's object, not Redis): each instance answers
    ``GET /redissync/stats`` with what redissync.lua reads from the real Redis, or fails like a down one."""

    servers: Mapping[str, Any]  # hostname → admin client of the Redis it reaches (None: cannot reach it)
    calls: list[str] = field(default_factory=list)

    def _stats(self, client: Any) -> dict[str, Any] | None:
        try:
            info = client.info()
            identity = server_identity({name: str(value) for name, value in info.items()})  # redissync.lua's server_of rule
            return {"target": f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0",
                    "dbsize": client.dbsize(), "used_memory": info["used_memory"],
                    "used_memory_human": info["used_memory_human"], "role": info["role"], "server": identity["server"],
                    "version": identity["version"], "server_mode": identity["mode"]}
        except (redis.RedisError, OSError):
            return None

    def get_ping(self, plugin_id: str) -> dict[str, str]:
        self.calls.append(f"ping {plugin_id}")
        reachable = any(client is not None and self._stats(client) for client in self.servers.values())
        return {"status": "success" if reachable else "error"}

    def get_data(self, endpoint: str) -> list[dict[str, Any]]:
        self.calls.append(f"data {endpoint}")
        answers = []
        for host, client in self.servers.items():
            stats = self._stats(client) if client is not None else None
            answers.append({host: stats if stats is not None else {"status": "error"}})
        return answers


def seed_page_data(client: redis.Redis, round_: int = 0) -> None:
    """Keys in BunkerWeb's formats: bans (global and per service), sessions, bad-behaviour counters, metrics."""
    now = int(time.time())
    reasons = ("bad behavior", "antibot", "dnsbl", "limit", "country")
    pipe = client.pipeline()
    for index in range(8 + round_):
        ip = f"203.0.113.{index + 10}"
        value = {"reason": reasons[index % len(reasons)], "service": "www.example.com" if index % 3 else "unknown",
                 "date": now - 600 * index, "country": "local", "ban_scope": "service" if index % 3 else "global",
                 "reason_data": {}, "permanent": index == 4}
        key = f"bans_service_www.example.com_ip_{ip}" if index % 3 else f"bans_ip_{ip}"
        if index == 4:
            pipe.set(key, json.dumps(value))
        else:
            pipe.set(key, json.dumps(value), ex=86400 - 900 * index)
        pipe.set(f"plugin_bad_behavior_{ip}", index + 1, ex=60)
    for index in range(6 + 2 * round_):
        pipe.set(f"sessions_:bw_session:sess{round_}-{index}", "x" * 64, ex=3600 - 60 * index)
    pipe.set("bunkerweb_ui_session:ui-1", "x", ex=3600)
    for worker in ("1", "2"):
        pipe.incrby(f"metrics:badbehavior_counter_requests:{worker}", 7 + round_)
        pipe.incrby(f"metrics:antibot_counter_challenges:{worker}", 3)
    pipe.execute()
    for index in range(40 * (round_ % 4 + 1)):  # some traffic, so ops/s moves between minutes
        client.get(f"bans_ip_203.0.113.{index % 20}")


def run_checks(env: dict[str, str], runs: int = CHECK_RUNS) -> list[int]:
    return [run_job_file("redissync-check", env) for _ in range(runs)]


def run_all_jobs(env: dict[str, str], admin: redis.Redis, minutes: int = METRIC_MINUTES) -> dict[str, int]:
    """Metric minutes in the past (the job's pass, with ``now``), then every job file once, then checks."""
    settings = load_settings(env)
    state = open_state(ROOT / "jobs" / "redissync-metrics.py", env)
    client = connect(settings)
    try:
        start = time.time() - 60 * minutes
        for minute in range(minutes):
            seed_page_data(admin, minute)
            metrics.one_pass(settings, client, state, logging.getLogger("ui-test"), now=start + 60 * minute, env=env)
    finally:
        client.close()
    codes = {name: run_job_file(name, env) for name in ("redissync-bans", "redissync-metrics", "redissync-sessions")}
    codes["redissync-check"] = max(run_checks(env))
    return codes


def state_env(env: Mapping[str, str], state_dir: str) -> dict[str, str]:
    return {**env, "REDISSYNC_STATE_DIR": state_dir}
