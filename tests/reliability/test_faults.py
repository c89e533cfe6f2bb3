"""Network faults between the client and Redis (harness/faultproxy.py): the connection layer and every
job entry file under pass / delay / blackhole / reset / cut-mid-reply.

For each fault: no hang beyond the timeout budget, one clear error (naming a setting), exit 2 for jobs,
and once the fault heals the next pass succeeds with nothing lost. The budget is a bound, not a benchmark:
REDIS_TIMEOUT × (retries + 2) + 1 s for one step (connect with its retries, then one read).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from harness.faultproxy import Fault, FaultProxy
from harness.jobrun import ROOT, run_entry, run_job_file
from harness.servers import RedisServer
from redissync.connection import RETRIES, connect, explain
from redissync.settings import load_settings
from tests.reliability import figures
from tests.reliability.conftest import SUITE_PASSWORD
from tests.reliability.probe import JOURNAL_KEY, PROBE_JOB, write_entry

TIMEOUT_S = 0.5
SETTING_NAME = re.compile(r"\b(?:REDIS_[A-Z_]+|SSL_CERT_FILE|USE_REDIS)\b")
ITEMS = 50


def budget(timeout: float = TIMEOUT_S, steps: int = 1) -> float:
    return timeout * (RETRIES + 2) * steps + 1.0


@dataclass(frozen=True)
class FaultCase:
    """One fault as the proxy injects it, and whether a command under it must fail."""

    fault: Fault
    delay_ms: int = 0
    cut_bytes: int = 0
    fails: bool = True

    @property
    def id(self) -> str:
        extra = f"{self.delay_ms}ms" if self.fault is Fault.DELAY else f"{self.cut_bytes}B" if self.fault is Fault.CUT else ""
        return f"{self.fault.value}{'-' + extra if extra else ''}"

    def apply(self, proxy: FaultProxy) -> None:
        proxy.set(self.fault, delay_ms=self.delay_ms, cut_bytes=self.cut_bytes)
        if self.fault is not Fault.PASS:
            figures.record("faults_injected")


PASS = FaultCase(Fault.PASS, fails=False)
SLOW_LINK = FaultCase(Fault.DELAY, delay_ms=40, fails=False)  # slower than usual, inside the timeout
STALLED = FaultCase(Fault.DELAY, delay_ms=int(TIMEOUT_S * 1000 * 2))  # each chunk later than the timeout
BLACKHOLE = FaultCase(Fault.BLACKHOLE)
RESET = FaultCase(Fault.RESET)
CUT_HANDSHAKE = FaultCase(Fault.CUT, cut_bytes=3)  # inside the first "+OK\r\n"
CUT_MID_VALUE = FaultCase(Fault.CUT, cut_bytes=4096)  # inside the 256 KiB bulk reply
# Handshake = AUTH, CLIENT SETNAME (no CLIENT SETINFO, see connection.py): 2 × "+OK\r\n" = 10 bytes; 12 cuts the first real reply.
CUT_FIRST_REPLY = FaultCase(Fault.CUT, cut_bytes=12)

FAST_CASES = [PASS, RESET, BLACKHOLE]
ALL_CASES = [PASS, SLOW_LINK, STALLED, BLACKHOLE, RESET, CUT_HANDSHAKE, CUT_MID_VALUE]
JOB_FAULTS = [STALLED, BLACKHOLE, RESET, CUT_HANDSHAKE, CUT_FIRST_REPLY]


def one_clear_sentence(sentence: str) -> None:
    assert "\n" not in sentence, sentence
    assert SETTING_NAME.search(sentence), f"names no setting: {sentence}"


# -- connection layer -----------------------------------------------------------------------------------
@pytest.fixture
def suite_redis(make_redis) -> RedisServer:
    return make_redis(name="faults", password=SUITE_PASSWORD)


def connection_under(case: FaultCase, server: RedisServer, proxy: FaultProxy, grep) -> None:
    settings = load_settings(server.settings_env(REDIS_PORT=str(proxy.port), REDIS_TIMEOUT=str(round(TIMEOUT_S * 1000))))
    client = connect(settings)
    big = b"v" * (256 * 1024)
    client.set("redissync:rel:big", big)
    with client.pipeline(transaction=False) as pipe:
        for index in range(ITEMS):
            pipe.set(f"redissync:rel:{index}", index)
        pipe.execute()  # the pool now holds a live connection: faults hit it, then fresh ones

    case.apply(proxy)
    figures.record("fault_runs" if case.fails else "runs_under_benign_conditions")
    started = time.monotonic()
    try:
        value = client.get("redissync:rel:big")
    except RedisError as error:
        elapsed = time.monotonic() - started
        assert case.fails, f"{case.id} should have passed, got {error!r}"
        sentence = explain(error, settings)
        grep.add(error, repr(error), sentence)
        one_clear_sentence(sentence)
        assert elapsed <= budget(settings.timeout), f"{case.id}: {elapsed:.2f} s > budget {budget(settings.timeout):.2f} s"
        figures.record("fault_runs_clear_error")
    else:
        elapsed = time.monotonic() - started
        assert not case.fails, f"{case.id} should have failed"
        assert value == big, "a reply was truncated without an error"
        assert elapsed <= budget(settings.timeout)

    proxy.heal()
    client.set("redissync:rel:after", "1")  # same client object: the pool drops the broken connections
    values = client.mget([f"redissync:rel:{index}" for index in range(ITEMS)])
    lost = sum(value != str(index).encode() for index, value in enumerate(values))
    assert client.get("redissync:rel:big") == big
    figures.record("heal_items_lost", lost)
    assert lost == 0
    assert server.client().get("redissync:rel:after") == b"1"
    figures.record("heal_runs_ok")
    client.close()


@pytest.mark.parametrize("case", FAST_CASES, ids=lambda c: c.id)
def test_connection_layer_fast_faults(case: FaultCase, suite_redis, fault_proxy, no_secret_leaks) -> None:
    connection_under(case, suite_redis, fault_proxy(suite_redis), no_secret_leaks)


@pytest.mark.slow
@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_connection_layer_every_fault(case: FaultCase, suite_redis, fault_proxy, no_secret_leaks) -> None:
    connection_under(case, suite_redis, fault_proxy(suite_redis), no_secret_leaks)


def test_proxy_switches_at_run_time_and_stops_its_threads(suite_redis, fault_proxy) -> None:
    proxy = fault_proxy(suite_redis)
    settings = load_settings(suite_redis.settings_env(REDIS_PORT=str(proxy.port), REDIS_TIMEOUT=str(round(TIMEOUT_S * 1000))))
    client = connect(settings)
    for case in (PASS, BLACKHOLE, PASS, RESET, PASS):
        case.apply(proxy)
        if case.fails:
            with pytest.raises(RedisError):
                client.ping()
        else:
            assert client.ping()
    client.close()
    assert proxy.stats.reset >= 1
    assert proxy.stats.blackholed >= 1
    proxy.stop()
    assert proxy.live_threads() == 0


# -- job entry files ------------------------------------------------------------------------------------
def discovered_jobs() -> list[str]:
    """Every real job at collection time, plus the probe (the runner itself under faults)."""
    return [PROBE_JOB, *sorted(path.stem for path in (ROOT / "jobs").glob("redissync-*.py"))]


def seed_bans_and_counters(server: RedisServer) -> None:
    """What BunkerWeb instances would have written: bans (global, service-scoped, permanent), counters."""
    admin = server.client()
    ban = {"reason": "bad behavior", "date": 1767225600, "service": "www.example.com", "ban_scope": "global"}
    with admin.pipeline(transaction=False) as pipe:
        for index in range(20):
            pipe.set(f"bans_ip_10.8.0.{index}", json.dumps(ban), ex=86400)
            pipe.set(f"bans_service_app_ip_test.example_ip_10.9.0.{index}", json.dumps({**ban, "ban_scope": "service"}), ex=86400)
            pipe.set(f"plugin_bad_behavior_10.7.0.{index}", 3, ex=3600)
        pipe.set("bans_ip_2001:db8::1", json.dumps(ban))  # permanent
        pipe.execute()


def key_snapshot(server: RedisServer) -> dict[bytes, bytes]:
    admin = server.client()
    return {key: admin.type(key) for key in admin.scan_iter(count=1000)}


def state_snapshot(state_dir: Path) -> dict[str, bytes]:
    if not state_dir.is_dir():
        return {}
    return {str(p.relative_to(state_dir)): p.read_bytes() for p in state_dir.rglob("*") if p.is_file() and not p.name.startswith(".")}


def assert_state_parses(state: dict[str, bytes]) -> None:
    for name, data in state.items():
        if name.endswith(".json"):
            json.loads(data)  # a journal or report cut by the fault would not parse


def run_job(name: str, env: dict[str, str], tmp_path: Path) -> int:
    if name == PROBE_JOB:
        return run_entry(write_entry(tmp_path), env, module_name=PROBE_JOB)
    return run_job_file(name, env)


@pytest.mark.slow
def test_job_discovery_recorded() -> None:
    jobs = discovered_jobs()
    figures.record("jobs_exercised", len(jobs))
    assert jobs[0] == PROBE_JOB


@pytest.mark.slow
@pytest.mark.parametrize("case", JOB_FAULTS, ids=lambda c: c.id)
@pytest.mark.parametrize("job", discovered_jobs())
def test_job_under_fault(job: str, case: FaultCase, suite_redis, fault_proxy, tmp_path: Path, caplog, no_secret_leaks) -> None:
    seed_bans_and_counters(suite_redis)
    proxy = fault_proxy(suite_redis)
    env = suite_redis.settings_env(REDIS_PORT=str(proxy.port), REDIS_TIMEOUT=str(round(TIMEOUT_S * 1000)))
    state_dir = tmp_path / "state"

    assert run_job(job, env, tmp_path) == 0, f"{job} failed before any fault"
    keys_before, state_before = key_snapshot(suite_redis), state_snapshot(state_dir)

    case.apply(proxy)
    figures.record("fault_runs")
    first = len(caplog.records)
    started = time.monotonic()
    code = run_job(job, env, tmp_path)
    elapsed = time.monotonic() - started
    errors = [r.getMessage() for r in caplog.records[first:] if r.levelno >= logging.ERROR]
    assert code == 2, f"{job} under {case.id}: exit {code}"
    assert len(errors) == 1, f"{job} under {case.id}: {len(errors)} error lines: {errors}"
    one_clear_sentence(errors[0])
    assert elapsed <= budget(), f"{job} under {case.id}: {elapsed:.2f} s > budget {budget():.2f} s"
    assert_state_parses(state_snapshot(state_dir))
    figures.record("fault_runs_clear_error")

    proxy.heal()
    assert run_job(job, env, tmp_path) == 0, f"{job} failed after {case.id} healed"
    keys_after, state_after = key_snapshot(suite_redis), state_snapshot(state_dir)
    lost_keys = [k for k, kind in keys_before.items() if keys_after.get(k) != kind and not k.startswith(b"redissync:lock:")]
    lost_state = [name for name in state_before if name not in state_after]
    figures.record("heal_items_lost", len(lost_keys) + len(lost_state))
    assert not lost_keys, f"{job}: lost {lost_keys[:5]} {lost_state[:5]}"
    assert not lost_state, f"{job}: lost {lost_keys[:5]} {lost_state[:5]}"
    assert_state_parses(state_after)
    if job == PROBE_JOB:
        assert suite_redis.client().scard(JOURNAL_KEY) == 41
    figures.record("heal_runs_ok")


# -- sentinel discovery ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", [BLACKHOLE, RESET, STALLED], ids=lambda c: c.id)
def test_sentinel_discovery_under_fault(case: FaultCase, sentinel_topology, fault_proxy, no_secret_leaks) -> None:
    """Proxies in front of the three sentinels: one faulty sentinel is skipped; all three faulty give one
    clear error within one step per sentinel; healed, the same client finds the master again."""
    proxies = [fault_proxy(sentinel) for sentinel in sentinel_topology.sentinels]
    env = sentinel_topology.settings_env(REDIS_TIMEOUT=str(round(TIMEOUT_S * 1000)),
                                         REDIS_SENTINEL_HOSTS=" ".join(f"127.0.0.1:{p.port}" for p in proxies))
    settings = load_settings(env)
    client = connect(settings)
    client.set("redissync:rel:before", "1")

    case.apply(proxies[0])
    client.connection_pool.disconnect()  # the next command asks the sentinels again
    assert client.get("redissync:rel:before") == b"1", "one faulty sentinel must be skipped"

    for proxy in proxies[1:]:
        case.apply(proxy)
    client.connection_pool.disconnect()
    figures.record("fault_runs")
    started = time.monotonic()
    with pytest.raises(RedisError) as caught:
        client.get("redissync:rel:before")
    elapsed = time.monotonic() - started
    sentence = explain(caught.value, settings)
    no_secret_leaks.add(caught.value, sentence)
    one_clear_sentence(sentence)
    assert "REDIS_SENTINEL_HOSTS" in sentence
    bound = budget(settings.timeout, steps=len(proxies))
    assert elapsed <= bound, f"{elapsed:.2f} s > {bound:.2f} s"
    figures.record("fault_runs_clear_error")

    for proxy in proxies:
        proxy.heal()
    client.connection_pool.disconnect()
    assert client.get("redissync:rel:before") == b"1"
    figures.record("heal_runs_ok")
    client.close()
