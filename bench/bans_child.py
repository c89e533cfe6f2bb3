#!/usr/bin/env python3
"""One bans pass in a fresh process, as BunkerWeb 1.7 runs every job (bench/bench_bans.py runs this).

Prints one JSON line: the pass's figures, its wall and CPU seconds (ours, every thread) and the process's
peak RSS. A fresh process per pass is what makes the peak RSS that pass's own, and it includes what a job
does before its first Redis reply (loading the journal's index).
``python bench/bans_child.py PORT FOLDER [bunkerweb]``: FOLDER is the state directory, or with ``bunkerweb`` the
stand-in BunkerWeb's folder (harness/bwjob.py): its job cache is the durable state, the journal a working copy.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]


def main(port: int, folder: str, bunkerweb: bool) -> dict:
    import redis

    from redissync.bans import reconcile
    from redissync.state import StateStore

    if bunkerweb:
        from harness import bwjob
        from harness.bans import bans_state

        stand_in = bwjob.StandInBunkerWeb(Path(folder))
        os.environ.update(stand_in.env)
        os.environ.pop("REDISSYNC_STATE_DIR", None)
        bwjob.install()
        written = stand_in.bytes_written()
    client = redis.Redis(port=port, protocol=2, socket_timeout=60)
    started, cpu = time.monotonic(), time.process_time()
    state = bans_state() if bunkerweb else StateStore(Path(folder))
    result = reconcile(client, state, logging.getLogger("bench"))
    figures = {key: value for key, value in asdict(result).items() if isinstance(value, int)}
    figures.update(seconds=time.monotonic() - started, cpu=time.process_time() - cpu,
                   rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if bunkerweb:
        figures["cache_written"] = stand_in.bytes_written() - written
    return figures


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2], sys.argv[3:] == ["bunkerweb"])))
