"""A real nginx running redissync.lua through the harness's stand-ins (harness/plugin_nginx.py), one per test."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import nginx as nginx_bed
from harness.dns import DNSResponder
from harness.nginx import Nginx
from harness.plugin_nginx import plugin_nginx
from harness.tls import TestPKI
from tests.confs.rendering import Rendered, with_expected

TEST_NAMES = {"localhost": "127.0.0.1", "redis.test": "127.0.0.1"}


def call(server: Nginx, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    """One HTTP request to the test nginx; (status, decoded JSON body)."""
    request = urllib.request.Request(server.url + path, method=method, data=body if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def dns() -> Iterator[DNSResponder]:
    responder = DNSResponder(dict(TEST_NAMES)).start()
    yield responder
    responder.stop()


@pytest.fixture
def lua_nginx(tmp_path: Path, pki: TestPKI, dns: DNSResponder) -> Iterator[Callable[..., tuple[Nginx, Rendered]]]:
    """Factory: render ``env`` into a fresh prefix and start nginx on it; stopped at teardown."""
    reason = nginx_bed.missing()
    if reason:
        pytest.skip(reason)
    started: list[Nginx] = []

    def make(env: dict[str, str], core_dir: Path | None = None, trusted: Path | None = None,
             start: bool = True, extra_http: str = "") -> tuple[Nginx, Rendered]:
        server, rendered = plugin_nginx(tmp_path / f"nginx{len(started)}", env, core_dir, (
            # What BunkerWeb's http.conf owns; here the test CA stands in for its bundle.
            f"  lua_ssl_trusted_certificate {trusted or pki.ca_path};",
            "  lua_ssl_verify_depth 2;",
            f"  resolver 127.0.0.1:{dns.port} ipv6=off valid=1s;",
            extra_http,
        ))
        started.append(server)
        if start:
            checked = server.test_config()
            assert checked.returncode == 0, checked.stderr
            server.start()
        return server, with_expected(rendered)

    yield make
    for server in started:
        server.stop()
