#!/usr/bin/env python3
"""Bench: what asking the instances adds to a steady bans pass.

Same server, same run: a steady pass over 100k bans without instances (the baseline), then with two
stand-in instances (harness/instances.py, real HTTP on loopback) that each list 50k of those bans, as
the instances that made them do. Prints the extra time per listed ban and the ratio to the baseline
(median of 3 passes each), then a pass where 1,000 of the listed bans are missing from Redis.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]

from harness.instances import StandInInstance, StandInInstancesDatabase  # noqa: E402
from harness.servers import RedisServer  # noqa: E402
from redissync.bans import reconcile  # noqa: E402
from redissync.bans.instances import BunkerWebInstances, StdlibApi  # noqa: E402
from redissync.state import StateStore  # noqa: E402

BANS = 100_000
LOST = 1_000


def populate(client, instances: list[StandInInstance]) -> list[str]:
    now = time.time()
    keys = []
    pipe = client.pipeline(transaction=False)
    for i in range(BANS):
        key = f"bans_ip_10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        value = json.dumps({"reason": "bad behavior", "service": "unknown", "date": int(now), "country": "local",
                            "ban_scope": "global", "reason_data": {}, "permanent": False})
        pipe.set(key, value, ex=86400)
        instances[i % len(instances)].store[key] = (value, now + 86400)
        keys.append(key)
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()
    return keys


def timed(client, state: StateStore, source) -> tuple[float, object]:
    started = time.perf_counter()
    result = reconcile(client, state, logging.getLogger("bench"), instances=source)
    return (time.perf_counter() - started) * 1000, result


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="redissync-bench-instances-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        instances = [StandInInstance(f"bw-{n}", server.port).start() for n in (1, 2)]
        try:
            client = server.client(socket_timeout=60)
            keys = populate(client, instances)
            for instance in instances:  # a real instance answers from nginx: keep the stand-in's Python out of the timing
                instance.raw_answer = (200, json.dumps(instance.listing()).encode())
            source = BunkerWebInstances(StandInInstancesDatabase(instances), StdlibApi)
            state = StateStore(Path(tmp) / "state")
            reconcile(client, state, logging.getLogger("bench"))  # first pass: journal everything
            baseline = statistics.median(timed(client, state, None)[0] for _ in range(3))
            asked = statistics.median(timed(client, state, source)[0] for _ in range(3))
            print(f"steady pass, {BANS // 1000}k bans: {baseline:.0f} ms without instances, {asked:.0f} ms with 2 instances "
                  f"listing {BANS // 1000}k bans ({asked / baseline:.2f}×; +{(asked - baseline) * 1000 / BANS:.1f} µs per listed ban)")
            # Lost by Redis before any pass saw them (a fresh journal): what the instances hold comes back.
            client.delete(*keys[:LOST])
            elapsed, result = timed(client, StateStore(Path(tmp) / "fresh-state"), source)
            print(f"a pass over a fresh journal with {LOST} of the listed bans missing from Redis: "
                  f"{result.instances.propagated} propagated in {elapsed:.0f} ms")
            return 0 if result.instances.propagated == LOST else 1
        finally:
            for instance in instances:
                instance.stop()
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
