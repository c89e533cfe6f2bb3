#!/usr/bin/env python3
"""Bench: one metrics pass over 100k metrics keys and one sessions pass over 100k session keys.

Each is compared with a naive per-key baseline run in the same process against the same server: SCAN
then one round trip per key (GET or LRANGE for metrics, TTL for sessions). The baselines do *less*
work than the passes (no TYPE/TTL for metrics, no TYPE for sessions), so the ratios are conservative.
Printed figures are ratios and rates; nothing here asserts an absolute time.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]

from harness.servers import RedisServer  # noqa: E402
from redissync.metrics import aggregate_pass  # noqa: E402
from redissync.sessions import revoke_sessions, session_stats  # noqa: E402

METRICS_KEYS = 100_000
SESSION_KEYS = 100_000
WORKERS = 50


def load(client) -> None:
    pipe = client.pipeline(transaction=False)
    per_worker = METRICS_KEYS // WORKERS
    for worker in range(WORKERS):
        for i in range(per_worker):
            if i % 10 == 0:
                pipe.rpush(f"metrics:plugin{i % 37}_table_t{i}:{worker}", "a", "b", "c")
            else:
                pipe.set(f"metrics:plugin{i % 37}_counter_c{i}:{worker}", str(i))
        pipe.execute()
    for i in range(SESSION_KEYS):
        key = f"sessions_:cookie{i % 3}:{i:032x}"
        if i % 20:
            pipe.set(key, "s" * 64, ex=3600 + i % 80000)  # none expires during the run, however slow the machine
        else:
            pipe.set(key, "s" * 64)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def naive_metrics(client) -> float:
    total = 0.0
    for key in client.scan_iter(match="metrics:*", count=1000):
        if b"_table_" in key:
            client.lrange(key, 0, -1)
        else:
            total += float(client.get(key))
    return total


def naive_sessions(client) -> int:
    return sum(1 for key in client.scan_iter(match="sessions_:*", count=1000) if client.ttl(key) > 0)


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="redissync-bench-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            client = server.client(socket_timeout=30)
            started = time.perf_counter()
            load(client)
            print(f"loaded {client.dbsize()} keys in {time.perf_counter() - started:.1f} s")

            naive_s, _ = timed(naive_metrics, client)
            pass_s, summary = timed(aggregate_pass, client, 100_000, time.time())
            assert summary["metrics_keys"] == METRICS_KEYS, summary["metrics_keys"]
            print(f"metrics pass  {METRICS_KEYS} keys: {METRICS_KEYS / pass_s:,.0f} keys/s; naive per-key "
                  f"{METRICS_KEYS / naive_s:,.0f} keys/s; ratio {naive_s / pass_s:.1f}x")

            naive_s, _ = timed(naive_sessions, client)
            pass_s, stats = timed(session_stats, client, {"SESSIONS_ABSOLUTE_TIMEOUT": "86400"}, True)
            assert stats["live"] == SESSION_KEYS, stats["live"]
            assert stats["bounded_now"] == SESSION_KEYS // 20, stats["bounded_now"]
            print(f"sessions pass {SESSION_KEYS} keys: {SESSION_KEYS / pass_s:,.0f} keys/s; naive per-key "
                  f"{SESSION_KEYS / naive_s:,.0f} keys/s; ratio {naive_s / pass_s:.1f}x "
                  f"({stats['bounded_now']} keys without TTL bounded in the same pass)")

            worst = [0.0]
            done = threading.Event()
            probe = server.client()

            def ping_loop() -> None:
                while not done.is_set():
                    began = time.perf_counter()
                    probe.ping()
                    worst[0] = max(worst[0], time.perf_counter() - began)

            thread = threading.Thread(target=ping_loop)
            thread.start()
            revoke_s, result = timed(revoke_sessions, client, None, True)
            done.set()
            thread.join()
            ping_s, _ = timed(lambda: [probe.ping() for _ in range(1000)])
            print(f"revoke        {result.deleted} sessions: {result.deleted / revoke_s:,.0f} keys/s in UNLINK batches of 500;")
            quiet = ping_s / 1000
            print(f"              worst PING from a thread of this process meanwhile {worst[0] * 1000:.1f} ms "
                  f"(GIL included; {worst[0] / quiet:.0f}x a quiet PING)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
