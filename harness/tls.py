"""Test certificates from a throw-away CA (trustme): right, foreign-CA, wrong-hostname, expired."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import trustme

from .servers import TLSFiles

LOOPBACK_NAMES = ("localhost", "127.0.0.1")


@dataclass
class TestPKI:
    """Two CAs: ``ca`` (trusted by the tests) and ``other_ca`` (never trusted)."""

    directory: Path

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.ca_path = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.other_ca_path = self._write("other-ca.pem", self.other_ca.cert_pem.bytes())

    def _write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        return path

    def _issue(self, name: str, ca: trustme.CA, *identities: str, **validity) -> TLSFiles:
        leaf = ca.issue_cert(*identities, **validity)
        cert = self._write(f"{name}.crt", b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        key = self._write(f"{name}.key", leaf.private_key_pem.bytes())
        return TLSFiles(cert=cert, key=key, ca=self.ca_path)

    def server(self) -> TLSFiles:
        """localhost + 127.0.0.1 signed by the trusted CA."""
        return self._issue("server", self.ca, *LOOPBACK_NAMES)

    def foreign(self) -> TLSFiles:
        """Valid names, but signed by a CA the client does not trust."""
        return self._issue("foreign", self.other_ca, *LOOPBACK_NAMES)

    def wrong_host(self) -> TLSFiles:
        """Trusted CA, but issued for another name."""
        return self._issue("wrong-host", self.ca, "redis.wrong.example")

    def expired(self) -> TLSFiles:
        now = dt.datetime.now(dt.UTC)
        return self._issue(
            "expired", self.ca, *LOOPBACK_NAMES, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
        )

    def expiring(self, days: int) -> TLSFiles:
        now = dt.datetime.now(dt.UTC)
        return self._issue(
            f"expiring-{days}", self.ca, *LOOPBACK_NAMES, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=days)
        )
