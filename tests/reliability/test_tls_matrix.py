"""TLS matrix: REDIS_SSL_VERIFY yes/no × server certificate (right CA, wrong CA, self-signed, expired) ×
hostname (right, wrong), standalone and behind Sentinel. The client always trusts only the test CA
(SSL_CERT_FILE), and always connects to 127.0.0.1.

With verify=yes exactly one cell per topology may connect (right CA, right host); every other one must be
refused with a sentence naming REDIS_SSL_VERIFY / SSL_CERT_FILE. With verify=no every cell connects.
Behind Sentinel the bad certificate sits either on the sentinels or on the data nodes (master + replica).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from harness.sentinel import SentinelTopology
from harness.servers import RedisServer, TLSFiles
from harness.tls import TestPKI as PKI
from harness.tls_extra import CERT_KINDS, matrix_cert, trusting_both
from redissync.connection import connect, explain
from redissync.settings import load_settings
from tests.reliability import figures

CELLS = list(itertools.product(CERT_KINDS, (True, False)))  # (kind, right_host)
SMOKE_CELLS = [("right-ca", True), ("right-ca", False), ("wrong-ca", True), ("expired", True)]


def cell_id(cell: tuple[str, bool]) -> str:
    return f"{cell[0]}-{'right' if cell[1] else 'wrong'}-host"


def should_connect(kind: str, right_host: bool, verify: bool) -> bool:
    return not verify or (kind == "right-ca" and right_host)


def attempt(env: dict[str, str], grep) -> tuple[bool, str]:
    """Connect and PING; (accepted, the explanation when refused)."""
    settings = load_settings(env)
    client = connect(settings)
    try:
        client.ping()
        return True, ""
    except RedisError as error:
        sentence = explain(error, settings)
        grep.add(error, sentence)
        return False, sentence
    finally:
        client.close()


def check_cell(kind: str, right_host: bool, env_for, grep) -> None:
    """Both verify modes of one cell; counts every case for the figures table."""
    for verify in (True, False):
        accepted, sentence = attempt(env_for(verify), grep)
        expected = should_connect(kind, right_host, verify)
        figures.record("tls_cases")
        figures.record("tls_wrongly_accepted", int(accepted and not expected))
        if accepted and expected:
            figures.record("tls_accepted_as_expected")
        elif not accepted and not expected:
            figures.record("tls_refused_as_expected")
        assert accepted == expected, f"{kind} right_host={right_host} verify={verify}: accepted={accepted} {sentence}"
        if not accepted:
            assert "\n" not in sentence, sentence
            assert "REDIS_SSL_VERIFY" in sentence, sentence
            assert "SSL_CERT_FILE" in sentence, sentence


# -- standalone -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def matrix_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[tuple[str, bool], RedisServer], PKI]]:
    """One TLS server per cell, started once per module (and per xdist worker)."""
    pki = PKI(tmp_path_factory.mktemp("matrix-pki"))
    root = tmp_path_factory.mktemp("matrix-servers")
    servers: dict[tuple[str, bool], RedisServer] = {}
    try:
        for kind, right_host in CELLS:
            files = matrix_cert(pki, kind, right_host)
            server = RedisServer(root / cell_id((kind, right_host)), name="tls", tls=files)
            servers[(kind, right_host)] = server.start()
        yield servers, pki
    finally:
        for server in servers.values():
            server.stop(hard=True)


def standalone_env(matrix: tuple[dict, PKI], kind: str, right_host: bool):
    servers, pki = matrix
    server, trusted = servers[(kind, right_host)], pki.ca_path

    def env_for(verify: bool) -> dict[str, str]:
        return server.settings_env(REDIS_SSL_VERIFY="yes" if verify else "no", SSL_CERT_FILE=str(trusted))

    return env_for


@pytest.mark.parametrize("cell", SMOKE_CELLS, ids=cell_id)
def test_tls_matrix_standalone_smoke(cell, matrix_servers, no_secret_leaks) -> None:
    check_cell(*cell, standalone_env(matrix_servers, *cell), no_secret_leaks)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
def test_tls_matrix_standalone(cell, matrix_servers, no_secret_leaks) -> None:
    check_cell(*cell, standalone_env(matrix_servers, *cell), no_secret_leaks)


# -- sentinel -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SentinelTopology, PKI]]:
    pki = PKI(tmp_path_factory.mktemp("sentinel-matrix-pki"))
    topology = SentinelTopology(tmp_path_factory.mktemp("sentinel-matrix"), tls=pki.server())
    try:
        yield topology.start(), pki
    finally:
        topology.stop()


def wear(node: RedisServer, files: TLSFiles) -> None:
    """Swap a data node's certificate at run time (new connections see it; existing links survive)."""
    node.client().execute_command("CONFIG", "SET", "tls-cert-file", str(files.cert), "tls-key-file", str(files.key),
                                  "tls-ca-cert-file", str(files.ca))


def restart_sentinels(topology: SentinelTopology, files: TLSFiles) -> None:
    """Sentinels have no CONFIG SET: restart them (same ports, same ids and peers) with ``files``."""
    for sentinel in topology.sentinels:
        sentinel.tls = files
        sentinel.restart()


@pytest.mark.slow
@pytest.mark.parametrize("leg", ["data-nodes", "sentinels"])
@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
def test_tls_matrix_sentinel(cell, leg: str, tls_topology, no_secret_leaks) -> None:
    topology, pki = tls_topology
    kind, right_host = cell
    good = topology.tls
    bad = trusting_both(pki, matrix_cert(pki, kind, right_host))
    if leg == "data-nodes":
        if topology.sentinels[0].tls is not good:
            restart_sentinels(topology, good)
        for node in topology.nodes:
            wear(node, bad)
    else:
        for node in topology.nodes:
            wear(node, good)
        restart_sentinels(topology, bad)

    def env_for(verify: bool) -> dict[str, str]:
        return topology.settings_env(REDIS_SSL_VERIFY="yes" if verify else "no", SSL_CERT_FILE=str(pki.ca_path))

    check_cell(kind, right_host, env_for, no_secret_leaks)


def test_self_signed_helper_writes_a_usable_pair(tmp_path: Path, make_redis) -> None:
    from harness.tls_extra import self_signed

    files = self_signed(tmp_path / "pki", "lonely", "localhost", "127.0.0.1")
    server = make_redis(name="selfsigned", tls=files)
    env = server.settings_env(SSL_CERT_FILE=str(files.cert))  # trusting the cert itself makes it valid
    assert connect(load_settings(env)).ping()
