"""The TLS half of the diagnosis: the handshake, done with the stdlib.

We do the TLS handshake ourselves (not through redis-py) so the report can show the protocol, the cipher
and the certificate even when verification fails: a failed verified handshake is followed by an
unverified one that only reads the certificate. The trust rules are those of ``connection.tls_options``
(system store + SSL_CERT_FILE, hostname checked when REDIS_SSL_VERIFY=yes), read from it, not copied.
Every blocking call gets the step's remaining budget, so no step outlives REDIS_TIMEOUT.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..connection import tls_options
from ..errors import StepError
from ..settings import Settings
from .network import Endpoint, speaks_plain_redis

EXPIRY_WARNING_DAYS = 14
# OpenSSL verify codes (X509_V_ERR_*) we turn into sentences.
_UNKNOWN_CA = {2, 18, 19, 20, 21}
_EXPIRED, _NOT_YET_VALID, _HOST_MISMATCH, _IP_MISMATCH = 10, 9, 62, 64
_PLAIN_TEXT_MARKERS = ("wrong version number", "record layer failure", "packet length too long", "http request",
                       "unknown protocol", "record_layer_failure", "wrong_version_number")


@dataclass
class TLSResult:
    protocol: str = ""
    cipher: str = ""
    certificate: dict[str, Any] = field(default_factory=dict)
    verified: bool | None = None  # None: verification off
    verify_code: int | None = None
    verify_message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "cipher": self.cipher, "certificate": self.certificate, "verified": self.verified,
                "verify_error": self.verify_message or None}


def tls_context(settings: Settings, verify: bool) -> ssl.SSLContext:
    """A client context with the trust rules of ``connection.tls_options`` (or none, to read a certificate)."""
    if not verify:
        return _context(False, ssl.CERT_NONE, None)
    options = tls_options(settings)
    ca_file = options.get("ssl_ca_certs")
    return _context(bool(options.get("ssl_check_hostname")), options.get("ssl_cert_reqs", ssl.CERT_REQUIRED), ca_file,
                    _file_version(ca_file))


def _file_version(path: str | None) -> int | None:
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None  # loading it fails and says so


@lru_cache(maxsize=8)
def _context(check_hostname: bool, verify_mode: ssl.VerifyMode, ca_file: str | None, _version: int | None = None) -> ssl.SSLContext:
    """Loading the system store costs ~20 ms: one context per trust rule and version of SSL_CERT_FILE (a rotated
    CA file is read again; the module lives as long as the scheduler), shared by every endpoint."""
    context = ssl.create_default_context()  # the system store, as redis-py loads it
    context.check_hostname = check_hostname
    context.verify_mode = verify_mode
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def _handshake(endpoint: Endpoint, context: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    try:
        return context.wrap_socket(sock, server_hostname=endpoint.host)
    except BaseException:
        sock.close()
        raise


def _name(rdn_sequence: Any) -> str:
    return ", ".join(f"{key}={value}" for rdn in rdn_sequence or () for key, value in rdn)


def describe_certificate(decoded: dict[str, Any]) -> dict[str, Any]:
    not_after = decoded.get("notAfter")
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC) if not_after else None
    return {
        "subject": _name(decoded.get("subject")),
        "issuer": _name(decoded.get("issuer")),
        "names": [value for _, value in decoded.get("subjectAltName", ())],
        "not_after": expires.isoformat() if expires else None,
        "days_left": (expires - datetime.now(UTC)).days if expires else None,
    }


def _decode_der(der: bytes) -> dict[str, Any]:
    """The peer certificate of an unverified handshake (getpeercert() is empty then), stdlib only."""
    with tempfile.TemporaryDirectory(prefix="redissync-cert-") as directory:
        path = Path(directory, "peer.pem")
        path.write_text(ssl.DER_cert_to_PEM_cert(der))
        try:
            decoded: dict[str, Any] = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]  # stdlib, no public twin
            return decoded
        except (AttributeError, ssl.SSLError):
            return {}


def _read_unverified(endpoint: Endpoint, settings: Settings, timeout: float, result: TLSResult) -> None:
    with _handshake(endpoint, tls_context(settings, verify=False), timeout) as tls:
        result.protocol, result.cipher = tls.version() or "", (tls.cipher() or ("",))[0]
        der = tls.getpeercert(binary_form=True)
    result.certificate = describe_certificate(_decode_der(der)) if der else {}


def tls_probe(endpoint: Endpoint, settings: Settings, budget: Callable[[], float]) -> TLSResult:
    """Handshake with the trust rules of REDIS_SSL_VERIFY=yes; on a verification failure, read the
    certificate with an unverified handshake. With REDIS_SSL_VERIFY=no the verdict is only informative."""
    result = TLSResult()
    strict = settings if settings.ssl_verify else replace(settings, ssl_verify=True)
    try:
        # Half the budget: a plain Redis port waits silently for a newline in our ClientHello, and the other
        # half is what confirms that (a plain-text PING answered) instead of a bare timeout.
        with _handshake(endpoint, tls_context(strict, verify=True), budget() / 2) as tls:
            result.protocol, result.cipher = tls.version() or "", (tls.cipher() or ("",))[0]
            result.certificate = describe_certificate(tls.getpeercert() or {})
        result.verified = True
    except ssl.SSLCertVerificationError as error:
        result.verified = False
        result.verify_code, result.verify_message = error.verify_code, str(error.verify_message or error.reason)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
        raise StepError(_handshake_sentence(endpoint, error, budget)) from None
    except TimeoutError:
        if speaks_plain_redis(endpoint, budget()):
            raise StepError(_plain_port_sentence(endpoint)) from None
        raise StepError(
            f"the TLS handshake with {endpoint.label} did not finish within REDIS_TIMEOUT: check REDIS_SSL "
            f"(is {endpoint.address} a TLS port?) and {endpoint.address_settings}"
        ) from None
    except OSError as error:
        raise StepError(f"cannot reach {endpoint.label} for TLS ({error.strerror or type(error).__name__}): "
                        f"check {endpoint.address_settings}") from None
    if not result.verified:
        with contextlib.suppress(OSError, ssl.SSLError):
            _read_unverified(endpoint, settings, budget(), result)
    if not settings.ssl_verify:
        result.verified = None  # verify_message still says whether verification *would* pass
    return result


def _handshake_sentence(endpoint: Endpoint, error: BaseException, budget: Callable[[], float]) -> str:
    text = str(error).lower()
    looks_plain = isinstance(error, ConnectionResetError | BrokenPipeError) or "eof" in text or any(
        marker in text for marker in _PLAIN_TEXT_MARKERS)
    if looks_plain and speaks_plain_redis(endpoint, budget()):
        return _plain_port_sentence(endpoint)
    return (f"the TLS handshake with {endpoint.label} failed ({getattr(error, 'reason', None) or type(error).__name__}): "
            f"check REDIS_SSL and the server's TLS configuration (tls-port, tls-cert-file)")


def _plain_port_sentence(endpoint: Endpoint) -> str:
    return (f"REDIS_SSL=yes but {endpoint.label} answers in plain text, not TLS: set REDIS_SSL=no, "
            f"or point {endpoint.address_settings} at the server's TLS port (tls-port)")


def speaks_tls(endpoint: Endpoint, settings: Settings, timeout: float) -> bool:
    try:
        with _handshake(endpoint, tls_context(settings, verify=False), timeout):
            return True
    except (OSError, ssl.SSLError):
        return False


def verification_sentence(endpoint: Endpoint, result: TLSResult) -> str:
    """Why REDIS_SSL_VERIFY=yes refused this certificate, and what to change."""
    cert = result.certificate
    if result.verify_code in _UNKNOWN_CA:
        issuer = f" (issuer '{cert['issuer']}')" if cert.get("issuer") else ""
        return (
            f"REDIS_SSL_VERIFY=yes but the certificate of {endpoint.label} is signed by an unknown CA{issuer}: "
            "install your CA (SSL_CERT_FILE) or set REDIS_SSL_VERIFY=no"
        )
    if result.verify_code in (_HOST_MISMATCH, _IP_MISMATCH):
        names = ", ".join(cert.get("names") or []) or cert.get("subject") or "other names"
        fix = ("set REDIS_HOST to a name the certificate lists" if endpoint.kind == "server"
               else "list the sentinels in REDIS_SENTINEL_HOSTS by a name the certificate lists"
               if endpoint.kind == "sentinel" else "add the address the sentinels announce to the certificate")
        return (
            f"REDIS_SSL_VERIFY=yes but the certificate of {endpoint.label} is not valid for '{endpoint.host}' "
            f"(it names {names}): {fix}, reissue the certificate, or set REDIS_SSL_VERIFY=no"
        )
    if result.verify_code in (_EXPIRED, _NOT_YET_VALID):
        when = "expired on" if result.verify_code == _EXPIRED else "is not valid before"
        return (
            f"REDIS_SSL_VERIFY=yes but the certificate of {endpoint.label} {when} {cert.get('not_after') or 'its validity date'}: "
            "renew the server certificate (tls-cert-file), or set REDIS_SSL_VERIFY=no until it is renewed"
        )
    return (
        f"REDIS_SSL_VERIFY=yes but the certificate of {endpoint.label} could not be verified ({result.verify_message}): "
        "install your CA (SSL_CERT_FILE), fix the certificate, or set REDIS_SSL_VERIFY=no"
    )


def tls_summary(result: TLSResult) -> str:
    cert = result.certificate
    verified = {True: "verified (chain + hostname)", False: "NOT verified", None: "verification off"}[result.verified]
    expiry = f", expires {cert['not_after'][:10]} ({cert['days_left']} days)" if cert.get("not_after") else ""
    return f"{result.protocol} {result.cipher}, {verified}, subject '{cert.get('subject', '?')}' by '{cert.get('issuer', '?')}'{expiry}"


def tls_warnings(endpoint: Endpoint, settings: Settings, result: TLSResult) -> list[str]:
    warnings = []
    cert = result.certificate
    if not settings.ssl_verify:
        would = f" (with verification on it would fail: {result.verify_message})" if result.verify_message else ""
        warnings.append(f"REDIS_SSL_VERIFY=no: the certificate of {endpoint.label} is not checked, so a machine in the "
                        f"middle could impersonate Redis{would}; install your CA (SSL_CERT_FILE) and set REDIS_SSL_VERIFY=yes")
    days = cert.get("days_left")
    if days is not None and days < EXPIRY_WARNING_DAYS:
        state = f"expires in {days} day(s)" if days >= 0 else "has expired"
        warnings.append(f"the certificate of {endpoint.label} {state} ({cert['not_after'][:10]}): renew it on the server (tls-cert-file)")
    return warnings
