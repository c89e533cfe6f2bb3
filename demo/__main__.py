"""Run the demo: start the embedded topology, then each step module in order (``demo/step_*.py``)."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]

from harness.core_redis import CORE_REDIS_1616_JSON, install_core_redis  # noqa: E402
from harness.sentinel import SentinelTopology  # noqa: E402  (the demo reuses the harness's servers)

STEPS = ("step_diagnose", "step_bans", "step_instances", "step_metrics", "step_sessions", "step_prometheus", "step_cluster")


@dataclass
class DemoContext:
    """``env``: the cluster as a BunkerWeb 1.6.16 user configures it, core's redis plugin owning REDIS_*
    (``REDIS_TIMEOUT=1s``; a bare number would be milliseconds); ``standalone_env``: the same outside BunkerWeb
    (redissync's own table, seconds)."""

    topology: SentinelTopology
    env: dict[str, str]
    standalone_env: dict[str, str]
    workdir: Path
    core_dir: Path

    def title(self, text: str) -> None:
        print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}")

    def say(self, text: str = "") -> None:
        print(text)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="redissync-demo-") as tmp:
        workdir = Path(tmp)
        os.environ["REDISSYNC_STATE_DIR"] = str(workdir / "state")
        os.environ["REDISSYNC_BW_CORE_DIR"] = str(workdir / "no-core")  # only what names the core dir is core-owned
        core_dir = install_core_redis(workdir / "bunkerweb-core", CORE_REDIS_1616_JSON)  # BunkerWeb 1.6.16's
        topology = SentinelTopology(workdir / "redis").start()
        try:
            ctx = DemoContext(topology, topology.settings_env(REDIS_TIMEOUT="1s", REDISSYNC_BW_CORE_DIR=str(core_dir)),
                              topology.settings_env(REDIS_TIMEOUT="2"), workdir, core_dir)
            ctx.title("Embedded Redis (Debian's redis-server and redis-sentinel, loopback, random ports)")
            ctx.say(f"master   127.0.0.1:{topology.master.port}   replica 127.0.0.1:{topology.replica.port}")
            ctx.say("sentinels " + " ".join(f"127.0.0.1:{s.port}" for s in topology.sentinels)
                    + "  (ACL user on the sentinels, password on the data nodes)")
            for step in STEPS:
                try:
                    module = importlib.import_module(f"demo.{step}")
                except ModuleNotFoundError:
                    continue
                module.run(ctx)
        finally:
            topology.stop()
    print("\nDemo finished: every server stopped, temporary files removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
