"""Sentinel failovers in a row while a load generator writes bans and unbans the way BunkerWeb instances do.

Jepsen's method: after the faults, Redis is compared with the generator's own record of what Redis
acknowledged (harness/loadgen.py). Five failovers in one topology rotate through the three fault kinds —
SIGKILL of the master, ``SENTINEL FAILOVER``, a paused master — and the bans job runs between and after them
as BunkerWeb's scheduler runs it. See docs/reliability.md for what is guaranteed and the one window that is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from harness import sentinel_ops
from harness.jobrun import run_job_file
from harness.loadgen import LoadGenerator, Verification
from harness.sentinel import FAILOVER_TIMEOUT, SentinelTopology
from harness.servers import wait_until
from tests.reliability import figures

FAULTS: dict[str, Callable[[SentinelTopology], sentinel_ops.Promotion]] = {
    "sigkill": sentinel_ops.kill_master,
    "sentinel-failover": sentinel_ops.manual_failover,
    "pause": sentinel_ops.pause_master,
}
ROTATION = ("sigkill", "sentinel-failover", "pause", "sigkill", "sentinel-failover")
UNBANS_PER_ROUND = 12
WRITES_IN_FLIGHT = 30  # bans acknowledged after the last pass and before the fault: only Redis has them
JOB_TIMEOUT = "1000"  # ms, core redis owns REDIS_TIMEOUT

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


@dataclass
class Round:
    kind: str
    promotion_s: float
    first_write_ms: float
    split_brain: set[str]


def wait_replica_has(topology: SentinelTopology, offset: int, timeout: float = FAILOVER_TIMEOUT) -> None:
    """The replica's link is up and it has applied the master's stream up to ``offset``; on a timeout, the
    failure shows what the replica and the sentinels last reported, so a slow link and a role change differ."""
    last: dict[str, object] = {}

    def arrived() -> bool:
        info = topology.replica.client(socket_timeout=1).info("replication")
        last.update(info)
        return info.get("master_link_status") == "up" and int(info.get("slave_repl_offset", -1)) >= offset

    try:
        wait_until(arrived, timeout, f"the replica to receive the unbans and the pass (master offset {offset})")
    except AssertionError as error:
        seen = {key: last.get(key) for key in ("role", "master_port", "master_link_status", "master_sync_in_progress",
                                              "slave_repl_offset", "master_last_io_seconds_ago")}
        masters = [topology.master_port(s) for s in topology.sentinels if s.process is not None]
        raise AssertionError(f"{error}; replica {topology.replica.port} last said {seen}; sentinels name {masters}") from None


def one_round(topology: SentinelTopology, generator: LoadGenerator, env: dict[str, str], kind: str) -> Round:
    master, _ = sentinel_ops.wait_ready_for_failover(topology)
    # Unbans first, then a pass, then the replica has them: the window docs/reliability.md guarantees.
    assert len(generator.unban(UNBANS_PER_ROUND)) == UNBANS_PER_ROUND
    assert run_job_file("redissync-bans", env) == 0
    offset = int(master.client().info("replication")["master_repl_offset"])
    wait_replica_has(topology, offset)
    acked = generator.acked_count()
    wait_until(lambda: generator.acked_count() >= acked + WRITES_IN_FLIGHT, 10, "bans written after the pass")

    fault_wall, fault_mono = time.time(), time.monotonic()
    promotion = FAULTS[kind](topology)
    first = wait_until(lambda: generator.first_ack_on(promotion.new.port, fault_mono), 30,
                       f"the generator's first write on the new master after {kind}")
    if kind == "sigkill":
        sentinel_ops.rejoin_as_replica(topology, topology.node_on(promotion.old_port), promotion.new)
    else:
        sentinel_ops.wait_for_demotion(topology, promotion)
    demoted_wall = time.time()
    # Bans the deposed master acknowledged after the fault began: Redis drops them when it is demoted.
    split_brain = generator.bans_acked_by(promotion.old_port, fault_wall, demoted_wall)
    assert run_job_file("redissync-bans", env) == 0
    return Round(kind, promotion.seconds, (first - promotion.observed) * 1000, split_brain)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_five_failovers_lose_no_ban_and_resurrect_no_unban(sentinel_topology: SentinelTopology, no_secret_leaks) -> None:
    topology = sentinel_topology
    env = topology.settings_env(REDIS_TIMEOUT=JOB_TIMEOUT)
    generator = LoadGenerator(env, max_bans=40_000, max_seconds=400, rate=150).start()
    rounds: list[Round] = []
    try:
        wait_until(lambda: generator.acked_count() >= 200, 15, "the first bans")
        assert run_job_file("redissync-bans", env) == 0
        for kind in ROTATION:
            rounds.append(one_round(topology, generator, env, kind))
            assert generator.running(), "the load generator stopped early"
    finally:
        generator.stop()
    master, _ = sentinel_ops.wait_ready_for_failover(topology)
    assert run_job_file("redissync-bans", env) == 0
    result = generator.verify(master.client())

    split_brain = set().union(*(r.split_brain for r in rounds))
    lost_outside = [key for key in result.lost if key not in split_brain]
    lost_split_brain = [key for key in result.lost if key in split_brain]
    report(rounds, generator, result, lost_split_brain)
    figures.record("failovers_survived", len(rounds))
    figures.record("bans_written", generator.bans_written)
    figures.record("bans_lost", len(lost_outside))
    figures.record("bans_lost_split_brain", len(lost_split_brain))
    figures.record("bans_resurrected", len(result.resurrected))
    figures.record("promotion_to_first_write_ms", max(0, round(max(r.first_write_ms for r in rounds))))
    no_secret_leaks.add(*(str(r) for r in rounds))

    assert result.checked > 1000
    assert result.unbans_checked == UNBANS_PER_ROUND * len(ROTATION)
    assert not lost_outside, f"{len(lost_outside)} acknowledged bans lost: {lost_outside[:10]}"
    crashed = {f"failover {index}": sorted(r.split_brain & set(lost_split_brain))
               for index, r in enumerate(rounds, 1) if r.kind == "sigkill"}
    assert not any(crashed.values()), f"a SIGKILLed master's last acknowledged writes must reach the replica: {crashed}"
    problems = {name: keys for name, keys in result.problems.items() if name != "lost"}
    assert not problems, problems
    assert generator.gave_up == 0


def report(rounds: list[Round], generator: LoadGenerator, result: Verification, lost_split_brain: list[str]) -> None:
    for index, item in enumerate(rounds, 1):
        lost = len(item.split_brain & set(result.lost))
        print(f"failover {index} ({item.kind}): promoted after {item.promotion_s:.2f} s, first write on the new master "
              f"{item.first_write_ms:+.0f} ms after the test bed saw the promotion, {len(item.split_brain)} bans acknowledged "
              f"by the deposed master, {lost} of them lost")
    print(f"bans written {generator.bans_written}, unbans {generator.unbans_written}, failover errors retried "
          f"{generator.failover_errors}; checked {result.checked} alive (+{result.due} due to expire), {result.unbans_checked} "
          f"unbans; lost {len(result.lost)} ({len(lost_split_brain)} in the split-brain window), resurrected {len(result.resurrected)}")


def test_the_record_detects_loss_resurrection_and_a_stretched_ttl(plain_redis) -> None:
    """The verifier must see what it is meant to catch, or the failover figures would prove nothing."""
    generator = LoadGenerator(plain_redis.settings_env(), seed=3)
    bans = [generator.ban_one() for _ in range(60)]
    assert generator.unban(3)
    assert all(ban is not None for ban in bans)
    admin = plain_redis.client()
    clean = generator.verify(admin)
    assert not clean.problems
    assert clean.unbans_checked == 3
    assert clean.checked + clean.due == 57
    long_lived = [ban for ban in generator.alive.values() if ban.ttl and ban.ttl > 60]
    permanent = next(ban for ban in generator.alive.values() if ban.ttl is None)
    admin.delete(long_lived[0].key)
    admin.expire(long_lived[1].key, long_lived[1].ttl + 60)
    admin.expire(permanent.key, 100)
    admin.set(long_lived[2].key, "tampered", keepttl=True)
    unbanned = next(iter(generator.unbanned.values()))[0]
    admin.set(unbanned.key, unbanned.value)
    admin.incr(unbanned.counter_key)
    found = generator.verify(admin)
    assert found.lost == [long_lived[0].key]
    assert found.wrong_value == [long_lived[2].key]
    assert [entry.split()[0] for entry in found.ttl_too_long] == [long_lived[1].key]
    assert found.permanent_with_ttl == [permanent.key]
    assert found.resurrected == [unbanned.key]
    assert found.counters_back == [unbanned.counter_key]
    scopes = {ban.service for ban in generator.alive.values()}
    assert None in scopes
    assert any(service and "_ip_" in service for service in scopes)
    generator.stop()
