#!/usr/bin/env python3
"""Bench: the whole diagnosis of a healthy local server vs a bare redis-py connect + PING, same run.

The diagnosis does DNS, TCP, AUTH, SELECT, 5 PINGs, INFO and CONFIG GET on one connection; the baseline
opens a redis-py client, PINGs once and closes. Both are measured on loopback against the same
password-protected redis-server (and a TLS one), medians of many runs. Target: diagnosis < 100 ms wall
time (printed, not asserted: this is a figure to watch, not a timed test).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]

import redis  # noqa: E402

from harness.servers import RedisServer  # noqa: E402
from harness.tls import TestPKI  # noqa: E402
from redissync.diagnose import diagnose  # noqa: E402

RUNS = 50
TARGET_MS = 100.0
PASSWORD = "Bench-Pw-diagnose"


def median_ms(action: Callable[[], object], runs: int = RUNS) -> float:
    action()  # warm-up: imports, first handshake
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def baseline(server: RedisServer, **tls: object) -> None:
    client = redis.Redis(host="127.0.0.1", port=server.port, password=PASSWORD, protocol=2, **tls)
    client.ping()
    client.close()


def measure(label: str, server: RedisServer, env: dict[str, str], tls: dict[str, object]) -> None:
    report = diagnose(env)  # cold: includes loading the system trust store once per process
    if not report.healthy:
        print(f"{label}: the diagnosis failed: {report.headline}")
        return
    whole = median_ms(lambda: diagnose(env))
    bare = median_ms(lambda: baseline(server, **tls))
    verdict = "within" if whole < TARGET_MS else "OVER"
    print(f"{label:<6} diagnosis {whole:7.2f} ms (cold {report.duration_ms:6.2f} ms, {len(report.steps)} steps) | "
          f"redis-py connect+PING {bare:6.2f} ms | "
          f"ratio {whole / bare:5.1f}x | {verdict} the {TARGET_MS:.0f} ms budget")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="redissync-bench-diagnose-") as tmp:
        pki = TestPKI(Path(tmp) / "pki")
        plain = RedisServer(Path(tmp) / "plain", password=PASSWORD).start()
        secure = RedisServer(Path(tmp) / "tls", password=PASSWORD, tls=pki.server(), name="tls").start()
        try:
            measure("plain", plain, plain.settings_env(), {})
            measure("tls", secure, secure.settings_env(), {"ssl": True, "ssl_ca_certs": str(pki.ca_path)})
        finally:
            plain.stop(hard=True)
            secure.stop(hard=True)
    print(f"median of {RUNS} runs each, loopback, same servers, same process")
    return 0  # a figure to report, never a failing gate


if __name__ == "__main__":
    sys.exit(main())
