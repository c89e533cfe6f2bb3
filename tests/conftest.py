"""Fixtures of the real-server test bed. Every server is started on a random loopback port in the
test's own temp dir and stopped when the fixture ends."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import bwjob
from harness.acl import FULL_PASSWORD, FULL_USER, acl_lines
from harness.cluster import ClusterTopology
from harness.core_redis import CORE_REDIS_1616_JSON, install_core_redis
from harness.sentinel import SentinelTopology
from harness.servers import REDIS_SENTINEL, REDIS_SERVER, RedisServer, cluster_port, server_version, tls_missing, wait_until
from harness.tls import TestPKI

REDIS_PASSWORD = "Redis-Pw-e3f81c0b-redissync"
# The reliability figures plugin must load in xdist's controller, which only reads this conftest.
pytest_plugins = ("tests.reliability.figures",)


def pytest_report_header() -> list[str]:
    """Which server the whole run is against (first on PATH, or $REDISSYNC_REDIS_BIN_DIR)."""
    lines = [f"redis-server: {server_version(REDIS_SERVER)} ({REDIS_SERVER}); redis-sentinel: {REDIS_SENTINEL}"]
    return lines + ([f"{tls_missing()}: TLS tests skip"] if tls_missing() else [])


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, bunkerweb_core: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's real state dir or BunkerWeb core dir. By default a test runs
    where every user runs: BunkerWeb's core redis plugin installed (it owns REDIS_*, values in ms, core's
    defaults). Standalone tests point REDISSYNC_BW_CORE_DIR at a directory without it (see ``standalone``)."""
    monkeypatch.setenv("REDISSYNC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("REDISSYNC_BW_CORE_DIR", str(bunkerweb_core))
    # A test that hands run_job/run_command its own env (without REDISSYNC_STATE_DIR) falls back to
    # state.default_state_dir: $XDG_CACHE_HOME or ~/.cache. Both point into the test's own temp dir.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))


# -- the run never writes where a developer's or a parallel run's state lives --------------------------
SHARED_STATE_DIRS = (Path.home() / ".cache" / "redissync", Path("/var/tmp/bunkerweb/redissync"))


def pytest_configure(config: pytest.Config) -> None:
    """Outside any test (collection, session fixtures) HOME and XDG_CACHE_HOME point at a run-wide temp
    home, which must stay empty of redissync state: anything found there at the end is a leak that would
    have landed in the real ~/.cache/redissync (see ``pytest_sessionfinish``)."""
    if hasattr(config, "workerinput"):  # xdist workers inherit the controller's environment
        return
    run_home = Path(tempfile.mkdtemp(prefix="redissync-test-home-"))
    config.stash[_RUN_HOME] = run_home
    config.stash[_SHARED_BEFORE] = {path: _listing(path) for path in SHARED_STATE_DIRS}
    os.environ["HOME"] = str(run_home)
    os.environ["XDG_CACHE_HOME"] = str(run_home / ".cache")


def _listing(directory: Path) -> dict[str, int]:
    """File name → mtime (ns) of a directory's files, {} when it does not exist."""
    if not directory.is_dir():
        return {}
    return {path.name: path.stat().st_mtime_ns for path in directory.iterdir() if path.is_file()}


_RUN_HOME = pytest.StashKey[Path]()
_SHARED_BEFORE = pytest.StashKey[dict[Path, dict[str, int]]]()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run if anything wrote redissync state outside its tests' temp dirs."""
    config = session.config
    if _RUN_HOME not in config.stash:
        return
    run_home = config.stash[_RUN_HOME]
    leaked = [str(path) for path in (run_home / ".cache" / "redissync").rglob("*")]
    for directory, before in config.stash[_SHARED_BEFORE].items():
        if not before and _listing(directory):  # absent or empty before the run, holds files now
            leaked += [str(directory / name) for name in _listing(directory)]
    shutil.rmtree(run_home, ignore_errors=True)
    if leaked:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nredissync state written outside the tests' temp dirs (set REDISSYNC_STATE_DIR or rely on the "
              f"_isolated_state fixture): {', '.join(sorted(leaked))}", file=sys.stderr)


@pytest.fixture(params=["state-dir", "bunkerweb-cache"])
def job_cache_mode(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bwjob.StandInBunkerWeb | None:
    """Run a test in both places job state can live (use it with ``pytestmark = pytest.mark.usefixtures``):

    * ``state-dir``: ``REDISSYNC_STATE_DIR``, a plain directory (outside BunkerWeb);
    * ``bunkerweb-cache``: BunkerWeb's job cache, through the ``Job`` stand-in (harness/bwjob.py): every
      ``open_state(job file)`` replaces the job's files with the database copy and deletes the others.

    Returns the stand-in BunkerWeb (database, cache folder) in the second mode, None in the first."""
    if request.param == "state-dir":
        return None
    return use_bunkerweb_standin(tmp_path, monkeypatch)


def use_bunkerweb_standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bwjob.StandInBunkerWeb:
    """Jobs, bwcli and ``open_state`` of this test keep their state in BunkerWeb's job cache (the stand-in)."""
    bunkerweb = bwjob.StandInBunkerWeb(tmp_path / "bunkerweb")
    monkeypatch.delenv("REDISSYNC_STATE_DIR")
    for name, value in bunkerweb.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(sys.modules, "jobs", bwjob)
    return bunkerweb


@pytest.fixture(scope="session")
def bunkerweb_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One read-only core dir for the session (outside each test's tmp_path)."""
    return install_core_redis(tmp_path_factory.mktemp("bunkerweb-core"))


@pytest.fixture(scope="session")
def bunkerweb_core_1616(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BunkerWeb 1.6.16's core dir: durations with suffixes by default (1s, 30s), pool 64."""
    return install_core_redis(tmp_path_factory.mktemp("bunkerweb-core-1616"), CORE_REDIS_1616_JSON)


@pytest.fixture
def standalone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Outside BunkerWeb: no core redis plugin, so the seed table's seconds and defaults apply."""
    monkeypatch.setenv("REDISSYNC_BW_CORE_DIR", str(tmp_path / "no-bunkerweb-core"))
    return tmp_path / "no-bunkerweb-core"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def make_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Factory: ``make_redis(password=..., tls=..., extra=[...])`` → a started server, stopped at teardown."""
    started: list[RedisServer] = []

    def make(name: str = "redis", **options) -> RedisServer:
        server = RedisServer(tmp_path / f"{name}{len(started)}", name=name, **options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop(hard=True)


@pytest.fixture
def plain_redis(make_redis) -> RedisServer:
    return make_redis()


@pytest.fixture
def password_redis(make_redis) -> RedisServer:
    return make_redis(password=REDIS_PASSWORD)


@pytest.fixture
def acl_redis(make_redis) -> RedisServer:
    return make_redis(acl_lines=acl_lines(), admin_username=FULL_USER, admin_password=FULL_PASSWORD)


@pytest.fixture
def tls_redis(make_redis, pki: TestPKI) -> RedisServer:
    return make_redis(name="tls", tls=pki.server())


@pytest.fixture
def cluster_node(make_redis) -> RedisServer:
    """A one-node Redis Cluster serving every slot: every command works on it, so nothing but the node's
    cluster mode tells a job it sees only part of the data a real cluster would spread over its nodes."""
    node = make_redis(name="cluster", pick_port=cluster_port, extra=["cluster-enabled yes", "cluster-config-file nodes.conf"])
    admin = node.client()
    admin.execute_command("CLUSTER", "ADDSLOTS", *range(16384))  # ADDSLOTSRANGE is 7.0+: make compat runs 6.2
    wait_until(lambda: b"cluster_state:ok" in admin.execute_command("CLUSTER", "INFO"), 10, "the one-node cluster to serve its slots")
    return node


# -- Redis Cluster: started once per test process (six servers), emptied before each test that uses one ----------
@pytest.fixture(scope="session")
def _plain_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterTopology]:
    topology = ClusterTopology(tmp_path_factory.mktemp("cluster")).start()
    yield topology
    topology.stop()


@pytest.fixture(scope="session")
def _acl_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterTopology]:
    topology = ClusterTopology(tmp_path_factory.mktemp("acl-cluster"), acl=True).start()
    yield topology
    topology.stop()


@pytest.fixture(scope="session")
def _tls_cluster(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[ClusterTopology]:
    topology = ClusterTopology(tmp_path_factory.mktemp("tls-cluster"), tls=pki.server()).start()
    yield topology
    topology.stop()


def _fresh(topology: ClusterTopology) -> ClusterTopology:
    """A shared cluster as a test expects it: every node up and ready, every keyspace empty."""
    topology.wait_ready()
    topology.flush()
    return topology


@pytest.fixture
def redis_cluster(_plain_cluster: ClusterTopology) -> ClusterTopology:
    """3 masters + 3 replicas, no auth. Shared by the tests of one process: a test that breaks a node uses
    ``make_cluster`` instead."""
    return _fresh(_plain_cluster)


@pytest.fixture
def acl_cluster(_acl_cluster: ClusterTopology) -> ClusterTopology:
    """The cluster with ACL users (default off; harness.acl's full and least-privilege users)."""
    return _fresh(_acl_cluster)


@pytest.fixture
def tls_cluster(_tls_cluster: ClusterTopology) -> ClusterTopology:
    """The cluster over TLS only (clients, bus and replication), certificates from the test CA."""
    return _fresh(_tls_cluster)


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., ClusterTopology]]:
    """Factory for a cluster of this test alone (to kill, reshard or flush one shard of), stopped at teardown."""
    started: list[ClusterTopology] = []

    def make(**options) -> ClusterTopology:
        topology = ClusterTopology(tmp_path / f"cluster{len(started)}", **options)
        started.append(topology)
        return topology.start()

    yield make
    for topology in started:
        topology.stop()


@pytest.fixture
def sentinel_topology(tmp_path: Path) -> Iterator[SentinelTopology]:
    topology = SentinelTopology(tmp_path / "sentinel")
    try:
        yield topology.start()
    finally:
        topology.stop()


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
