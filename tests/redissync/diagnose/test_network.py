"""The diagnosis's network helpers start no thread pool at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

JOBS = Path(__file__).resolve().parents[3] / "jobs"


def test_importing_creates_no_thread_pool() -> None:
    """The resolver's pool is made on the first lookup of a name, never at import (a fresh interpreter)."""
    code = ("import concurrent.futures, redissync.diagnose.network as network; "
            "print(sum(isinstance(value, concurrent.futures.Executor) for value in vars(network).values()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(JOBS)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
