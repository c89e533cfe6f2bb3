"""The five states of the page, each built once per test session by the real jobs on the real test bed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.core_redis import install_core_redis
from harness.jobrun import run_job_file
from harness.sentinel import DATA_PASSWORD, SENTINEL_PASSWORD, SentinelTopology
from harness.servers import RedisServer
from tests.conftest import REDIS_PASSWORD
from tests.ui.scenarios import InstancesStandIn, run_all_jobs, run_checks


@dataclass
class Built:
    """One state: the environment whose REDISSYNC_STATE_DIR holds the reports, and the UI's stand-in."""

    name: str
    env: dict[str, str]
    instances: InstancesStandIn | None
    secrets: tuple[str, ...]
    codes: dict[str, int] = field(default_factory=dict)


def _base_env(root: Path) -> dict[str, str]:
    """What every BunkerWeb user has: core's redis plugin owns REDIS_* (milliseconds, core's defaults)."""
    return {"REDISSYNC_STATE_DIR": str(root / "state"), "REDISSYNC_BW_CORE_DIR": str(install_core_redis(root / "core")),
            "REDIS_TIMEOUT": "2000"}


@pytest.fixture(scope="session")
def healthy_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("ui-healthy")
    server = RedisServer(root / "redis", password=REDIS_PASSWORD).start()
    try:
        env = {**server.settings_env(), **_base_env(root)}
        admin = server.client()
        codes = run_all_jobs(env, admin)
        instances = InstancesStandIn({"bunkerweb-1": server.client(), "bunkerweb-2": server.client()})
        yield Built("healthy", env, instances, (REDIS_PASSWORD,), codes)
    finally:
        server.stop(hard=True)


@pytest.fixture(scope="session")
def down_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Redis was up (reports cached), then stopped: the check job now caches the failure."""
    root = tmp_path_factory.mktemp("ui-down")
    server = RedisServer(root / "redis", password=REDIS_PASSWORD).start()
    try:
        env = {**server.settings_env(), **_base_env(root)}
        codes = run_all_jobs(env, server.client(), minutes=4)
        server.stop(hard=True)
        codes["redissync-check (down)"] = max(run_checks(env, 2))
        codes["redissync-bans (down)"] = run_job_file("redissync-bans", env)  # metrics and sessions: not yet due
        instances = InstancesStandIn({"bunkerweb-1": None, "bunkerweb-2": None})
        yield Built("down", env, instances, (REDIS_PASSWORD,), codes)
    finally:
        server.stop(hard=True)


@pytest.fixture(scope="session")
def recovered_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Up, then down (checks and the bans job fail), then the same server back: every job runs again."""
    root = tmp_path_factory.mktemp("ui-recovered")
    server = RedisServer(root / "redis", password=REDIS_PASSWORD).start()
    try:
        env = {**server.settings_env(), **_base_env(root)}
        run_all_jobs(env, server.client(), minutes=2)
        server.stop(hard=True)
        codes = {"redissync-check (down)": max(run_checks(env, 2)), "redissync-bans (down)": run_job_file("redissync-bans", env)}
        server.start()  # same port, empty: the bans job restores from its journal
        codes.update(run_all_jobs(env, server.client(), minutes=2))
        instances = InstancesStandIn({"bunkerweb-1": server.client()})
        yield Built("recovered", env, instances, (REDIS_PASSWORD,), codes)
    finally:
        server.stop(hard=True)


@pytest.fixture(scope="session")
def sentinel_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """A healthy Sentinel setup, then one sentinel stopped: clients still work, the page must say so."""
    root = tmp_path_factory.mktemp("ui-sentinel")
    topology = SentinelTopology(root / "bed").start()
    try:
        env = {**topology.settings_env(), **_base_env(root)}
        codes = run_all_jobs(env, topology.master.client(), minutes=6)
        topology.sentinels[2].stop(hard=True)
        codes["redissync-check (degraded)"] = max(run_checks(env, 2))
        instances = InstancesStandIn({"bunkerweb-1": topology.master.client()})
        yield Built("sentinel", env, instances, (DATA_PASSWORD, SENTINEL_PASSWORD), codes)
    finally:
        topology.stop()


@pytest.fixture
def nodata_state(tmp_path: Path) -> Built:
    """Redis configured, no job has run yet: every section says what will fill it."""
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_PASSWORD": REDIS_PASSWORD,
           **_base_env(tmp_path)}
    return Built("nodata", env, InstancesStandIn({}), (REDIS_PASSWORD,))
