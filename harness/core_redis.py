"""BunkerWeb's core redis plugin, installed in a core dir as every real install has it: it owns REDIS_*, so its
presence switches redissync to BunkerWeb's units (milliseconds, and 1.6.16's suffixes). The plugin.json files are
BunkerWeb's own, recorded verbatim in tests/data."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness import ROOT

CORE_REDIS_JSON = ROOT / "tests" / "data" / "plugin-json" / "core" / "redis.json"
# 1.6.16~rc3's core redis plugin.json, verbatim: REDIS_TIMEOUT 1s, REDIS_KEEPALIVE_IDLE 30s, REDIS_KEEPALIVE_POOL 64.
CORE_REDIS_1616_JSON = CORE_REDIS_JSON.parents[1] / "core-1.6.16-rc3" / "redis.json"


def install_core_redis(core_dir: Path, source: Path = CORE_REDIS_JSON) -> Path:
    """A BunkerWeb core dir holding core's redis plugin.json (the units owner); returns ``core_dir``."""
    target = core_dir / "redis" / "plugin.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return core_dir
