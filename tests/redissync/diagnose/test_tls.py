"""The diagnosis's TLS contexts keep nothing stale for the scheduler's lifetime."""

from __future__ import annotations

import os
import shutil

from redissync.diagnose import tls
from redissync.settings import load_settings


def test_a_rotated_ca_file_is_read_again(pki, tmp_path) -> None:
    ca_file = tmp_path / "ca.pem"
    shutil.copy(pki.ca_path, ca_file)
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "localhost", "REDIS_SSL": "yes", "SSL_CERT_FILE": str(ca_file)})
    first = tls.tls_context(settings, verify=True)
    assert tls.tls_context(settings, verify=True) is first  # one context per version of the file
    shutil.copy(pki.other_ca_path, ca_file)
    stat = ca_file.stat()
    os.utime(ca_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert tls.tls_context(settings, verify=True) is not first
