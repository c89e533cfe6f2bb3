"""Fixtures of the reliability suite: the fault proxy, and a secret grep over everything a test produced.

The figures plugin itself lives in figures.py (loaded from tests/conftest.py, see there why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.acl import FULL_PASSWORD, LEAST_PASSWORD
from harness.faultproxy import FaultProxy
from harness.sentinel import DATA_PASSWORD, SENTINEL_PASSWORD
from harness.servers import RedisServer
from tests.conftest import REDIS_PASSWORD
from tests.reliability import figures

# A password of this suite's own: distinctive, and made of characters no log format would escape.
SUITE_PASSWORD = "Reliab-Pw-5d2e90f7-redissync"
SECRETS = (SUITE_PASSWORD, REDIS_PASSWORD, SENTINEL_PASSWORD, DATA_PASSWORD, FULL_PASSWORD, LEAST_PASSWORD)


def secret_hits(text: str) -> list[str]:
    """The test passwords found in ``text`` (by a short name, never the secret itself)."""
    return [f"secret #{index}" for index, secret in enumerate(SECRETS) if secret in text]


class SecretGrep:
    """Collects texts a test produced (exception messages, job output) to grep at teardown."""

    def __init__(self) -> None:
        self.extra: list[str] = []

    def add(self, *texts: object) -> None:
        self.extra.extend(str(text) for text in texts)


@pytest.fixture(autouse=True)
def no_secret_leaks(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture,
                    capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Iterator[SecretGrep]:
    """Fail the test if a test password shows up in its logs, stdout/stderr, state files or added texts."""
    caplog.set_level(logging.DEBUG)
    grep = SecretGrep()
    yield grep
    captured = capsys.readouterr()
    texts = [caplog.text, *(r.getMessage() for r in caplog.records), captured.out, captured.err, *grep.extra]
    texts += [str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1] is not None]
    for state_dir in (tmp_path / "state", tmp_path / "bunkerweb"):  # REDISSYNC_STATE_DIR, the Job stand-in's folder
        if state_dir.is_dir():
            texts += [p.read_text(errors="replace") for p in state_dir.rglob("*") if p.is_file()]
    hits = sorted({hit for text in texts for hit in secret_hits(text)})
    figures.record("secret_checks", len(texts))
    figures.record("secret_hits", len(hits))
    # Re-emit what the test printed so -s / failure reports still show it.
    print(captured.out, end="")
    if hits:
        pytest.fail(f"{request.node.nodeid}: {', '.join(hits)} leaked into logs/output/state", pytrace=False)


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[RedisServer | int], FaultProxy]]:
    """Factory: ``fault_proxy(server_or_port)`` → a started proxy; every proxy is stopped (threads joined)."""
    proxies: list[FaultProxy] = []

    def make(target: RedisServer | int) -> FaultProxy:
        port = target if isinstance(target, int) else target.port
        proxy = FaultProxy(port).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
