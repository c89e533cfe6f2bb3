"""Certificates for the TLS matrix on top of :class:`harness.tls.TestPKI`: a self-signed one, and every
kind of server certificate (right CA, wrong CA, self-signed, expired) for the right or a wrong hostname."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .servers import TLSFiles
from .tls import LOOPBACK_NAMES, TestPKI

WRONG_NAME = "redis.wrong.example"
CERT_KINDS = ("right-ca", "wrong-ca", "self-signed", "expired")


def _san(identity: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(identity))
    except ValueError:
        return x509.DNSName(identity)


def self_signed(directory: Path, name: str, *identities: str) -> TLSFiles:
    """A leaf that signs itself (no CA anyone trusts); ``ca`` points at the cert itself."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identities[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([_san(i) for i in identities]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return TLSFiles(cert=cert_path, key=key_path, ca=cert_path)


def matrix_cert(pki: TestPKI, kind: str, right_host: bool) -> TLSFiles:
    """The server certificate of one matrix cell; clients trust only ``pki.ca``.

    ``ca`` of the result is the file a *server* loads as tls-ca-cert-file: the cert's own issuer, so a
    Redis node or sentinel (which verifies its peers' chains, never their names) can still replicate."""
    identities = LOOPBACK_NAMES if right_host else (WRONG_NAME,)
    suffix = "right-host" if right_host else "wrong-host"
    name = f"matrix-{kind}-{suffix}"
    now = dt.datetime.now(dt.UTC)
    if kind == "self-signed":
        return self_signed(pki.directory, name, *identities)
    ca, ca_path = (pki.other_ca, pki.other_ca_path) if kind == "wrong-ca" else (pki.ca, pki.ca_path)
    validity = {"not_before": now - dt.timedelta(days=30), "not_after": now - dt.timedelta(days=1)} if kind == "expired" else {}
    leaf = ca.issue_cert(*identities, **validity)
    cert = pki.directory / f"{name}.crt"
    key = pki.directory / f"{name}.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return TLSFiles(cert=cert, key=key, ca=ca_path)


def trusting_both(pki: TestPKI, files: TLSFiles) -> TLSFiles:
    """Same cert and key, but the server also trusts the test CA: a sentinel or node wearing a matrix
    certificate must still verify the healthy nodes it talks to."""
    bundle = files.cert.with_suffix(".peers.pem")
    bundle.write_bytes(pki.ca_path.read_bytes() + files.ca.read_bytes())
    return TLSFiles(cert=files.cert, key=files.key, ca=bundle)
