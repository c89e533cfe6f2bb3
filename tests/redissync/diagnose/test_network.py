"""The diagnosis's network helpers keep nothing stale for the scheduler's lifetime."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from redissync.diagnose import network
from redissync.settings import load_settings

JOBS = Path(__file__).resolve().parents[3] / "jobs"


def test_a_rotated_ca_file_is_read_again(pki, tmp_path) -> None:
    ca_file = tmp_path / "ca.pem"
    shutil.copy(pki.ca_path, ca_file)
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "localhost", "REDIS_SSL": "yes", "SSL_CERT_FILE": str(ca_file)})
    first = network.tls_context(settings, verify=True)
    assert network.tls_context(settings, verify=True) is first  # one context per version of the file
    shutil.copy(pki.other_ca_path, ca_file)
    stat = ca_file.stat()
    os.utime(ca_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert network.tls_context(settings, verify=True) is not first


def test_importing_creates_no_thread_pool() -> None:
    """The resolver's pool is made on the first lookup of a name, never at import (a fresh interpreter)."""
    code = ("import concurrent.futures, redissync.diagnose.network as network; "
            "print(sum(isinstance(value, concurrent.futures.Executor) for value in vars(network).values()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(JOBS)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
