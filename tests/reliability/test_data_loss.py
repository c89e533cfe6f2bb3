"""Redis losing data, or refusing it, under the bans job; and the job itself killed mid-pass.

Each case writes bans and unbans through the load generator (harness/loadgen.py), runs the real job entry
file, breaks something, and compares Redis with the generator's record after the next pass: every ban alive
with its value and no more than its remaining TTL, permanent ones permanent, unbans absent.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest
from redis.exceptions import OutOfMemoryError

from harness.bans import ban_value, bans_state
from harness.jobproc import spawn_job
from harness.jobrun import run_job_file
from harness.loadgen import LoadGenerator, Verification
from harness.servers import RedisServer, wait_until
from redissync.bans.archive import open_journal
from redissync.bans.journal import JOURNAL_NAME
from redissync.keys import BANS_LOCK_KEY as LOCK_KEY
from redissync.lock import LOCK_MS
from tests.reliability import figures
from tests.reliability.conftest import SUITE_PASSWORD

BANS = 300
UNBANS = 30
FILLER = b"f" * 65_536


pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def state_dir() -> Path:
    return bans_state().directory


def journal_rows() -> list[tuple]:
    with open_journal(bans_state()) as journal:  # the journal the next pass starts from
        path = journal.path
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return db.execute("SELECT key, value, expires_ms FROM bans ORDER BY key").fetchall()


def generate(server_env: dict[str, str], seed: int, bans: int = BANS, unbans: int = UNBANS) -> LoadGenerator:
    generator = LoadGenerator(server_env, seed=seed)
    assert all(generator.ban_one() for _ in range(bans))
    assert len(generator.unban(unbans)) == unbans
    return generator


def record(generator: LoadGenerator, result: Verification, lost: int | None = None, resurrected: int | None = None) -> None:
    figures.record("bans_written", generator.bans_written)
    figures.record("bans_lost", len(result.lost) if lost is None else lost)
    figures.record("bans_resurrected", len(result.resurrected) if resurrected is None else resurrected)


def assert_clean(result: Verification) -> None:
    assert not result.problems, result.problems
    assert result.checked > 0
    assert result.unbans_checked > 0


@pytest.fixture
def server(make_redis) -> RedisServer:
    return make_redis(name="dataloss", password=SUITE_PASSWORD)


def test_restart_without_persistence_restores_every_ban_with_its_remaining_ttl(server: RedisServer) -> None:
    env = server.settings_env()
    generator = generate(env, seed=11)
    assert run_job_file("redissync-bans", env) == 0
    server.restart()  # persistence is off: Redis comes back empty
    admin = server.client()
    assert admin.dbsize() == 0
    assert len(generator.verify(admin).lost) > 0
    assert run_job_file("redissync-bans", env) == 0
    result = generator.verify(admin)
    record(generator, result)
    generator.stop()
    assert_clean(result)


def fill_to_maxmemory(admin) -> int:
    """noeviction and a maxmemory just above what is used, then 64 KiB values until Redis says OOM; then maxmemory
    1 MiB under what is used, so Redis stays full when it later frees the rejected command's query buffer (under a
    loaded CI, more than 2 s pass before the job's first write and clientsCron frees it: the job's writes then fit)."""
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) + 2 * 1024 * 1024)
    for index in range(1_000):
        try:
            admin.set(f"filler:{index}", FILLER)
        except OutOfMemoryError:
            admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) - 1024 * 1024)
            return index
    raise AssertionError("Redis never reached maxmemory")


def test_noeviction_at_maxmemory_exits_2_keeps_the_journal_and_recovers(server: RedisServer, captured_logs, no_secret_leaks) -> None:
    env = server.settings_env()
    generator = generate(env, seed=12)
    assert run_job_file("redissync-bans", env) == 0
    before = journal_rows()
    admin = server.client()
    # The bans are gone (a restart without persistence) and Redis is full before the next pass. SYNC: Valkey 8 frees
    # a plain FLUSHALL in the background (lazyfree-lazy-user-flush yes), and the fill below must see the memory freed.
    admin.execute_command("FLUSHALL", "SYNC")
    fillers = fill_to_maxmemory(admin)
    captured_logs.clear()

    assert run_job_file("redissync-bans", env) == 2
    errors = [r.getMessage() for r in captured_logs.records if r.levelname == "ERROR"]
    no_secret_leaks.add(*errors)
    assert len(errors) == 1
    assert "redissync-bans failed:" in errors[0]
    assert "maxmemory" in errors[0], errors[0]
    assert "refused a write" in errors[0], errors[0]
    assert journal_rows() == before  # not one row changed, the file is sound
    with open_journal(bans_state(), readonly=True) as journal:
        assert journal.count() == len(before)

    admin.delete(*[f"filler:{index}" for index in range(fillers)])  # memory freed
    assert run_job_file("redissync-bans", env) == 0
    result = generator.verify(admin)
    record(generator, result)
    generator.stop()
    assert_clean(result)


@pytest.mark.slow
def test_promoted_replica_that_missed_writes(sentinel_topology) -> None:
    """Bans journaled after the replica's last sync are restored after it is promoted; unbans propagated
    before that stay unbanned; unbans the replica itself missed come back with it (Redis, not the job)."""
    topology = sentinel_topology
    env = topology.settings_env(REDIS_TIMEOUT="1000")
    generator = generate(env, seed=13)
    assert run_job_file("redissync-bans", env) == 0
    master, replica = topology.master.client(), topology.replica.client()
    wait_until(lambda: replica.info("replication")["slave_repl_offset"] >= master.info("replication")["master_repl_offset"],
               10, "the replica to catch up")

    topology.replica.pause()
    master.client_kill_filter(_type="slave")  # nothing more reaches the replica, not even buffered bytes
    missed = [generator.ban_one() for _ in range(100)]
    assert all(missed)
    assert run_job_file("redissync-bans", env) == 0  # the job sees them on the master: they are journaled
    missed_unbans = {ban.key for ban in generator.unban(5)}  # after the last pass, missed by the replica
    old_port = topology.master.port
    topology.master.stop(hard=True)
    topology.replica.resume()
    promoted = topology.wait_for_promotion(old_port)
    admin = promoted.client()
    assert not any(admin.exists(ban.key) for ban in missed)

    assert run_job_file("redissync-bans", env) == 0
    result = generator.verify(admin)
    generator.stop()
    assert set(result.resurrected) == missed_unbans  # the promoted replica never saw these DELs
    resurrected_by_job = [key for key in result.resurrected if key not in missed_unbans]
    record(generator, result, resurrected=len(resurrected_by_job))
    problems = {name: keys for name, keys in result.problems.items() if name not in ("resurrected", "counters_back")}
    assert not problems
    assert result.checked > BANS
    missed_counters = {ban.counter_key for key, (ban, _) in generator.unbanned.items() if key in missed_unbans}
    assert set(result.counters_back) <= missed_counters


def write_bans(admin, start: int, count: int) -> list[str]:
    """``count`` bans the way instances write them, pipelined (a large set, fast)."""
    keys = []
    pipe = admin.pipeline(transaction=False)
    for number in range(start, start + count):
        ip = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
        key = f"bans_ip_{ip}"
        pipe.set(key, ban_value(ip), ex=7200)
        keys.append(key)
        if len(pipe) >= 5_000:
            pipe.execute()
    pipe.execute()
    return keys


@pytest.mark.slow
def test_scheduler_killed_mid_pass_leaves_a_sound_journal(server: RedisServer, captured_logs) -> None:
    env = server.settings_env()
    admin = server.client()
    first = write_bans(admin, 0, 20_000)
    assert run_job_file("redissync-bans", env) == 0
    committed = len(journal_rows())
    assert committed == len(first)
    second = write_bans(admin, 20_000, 150_000)
    unbanned = first[:100]
    admin.delete(*unbanned)

    wal = bans_state().work_directory / f"{JOURNAL_NAME}-wal"
    job = spawn_job("redissync-bans", env)
    try:
        wait_until(lambda: admin.exists(LOCK_KEY), 30, "the job to take its lock (a pass has begun)")
        wait_until(lambda: wal.exists() and wal.stat().st_size > 1024 * 1024, 60,
                   "the journal's WAL to grow past 1 MiB (the pass is writing)")
        job.send_signal(signal.SIGKILL)
        assert job.wait(timeout=10) == -signal.SIGKILL
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
        job.stdout.close()

    rows = journal_rows()  # PRAGMA integrity_check inside
    with open_journal(bans_state()) as journal:
        assert journal.count() == len(rows)
    assert len(rows) == committed, "a killed pass must leave exactly the previous pass in the journal"
    assert admin.exists(LOCK_KEY), "the killed pass still holds the lock until it expires"

    captured_logs.clear()
    assert run_job_file("redissync-bans", env) == 0
    assert any("another scheduler is reconciling bans" in r.getMessage() for r in captured_logs.records)
    assert 0 < admin.pttl(LOCK_KEY) <= LOCK_MS, "a dead pass's lock outlives it by at most LOCK_MS (30 s), not renewed"
    admin.pexpire(LOCK_KEY, 1)  # stands in for the lock's 30 s (LOCK_MS) running out
    wait_until(lambda: not admin.exists(LOCK_KEY), 5, "the dead pass's lock to expire")
    assert run_job_file("redissync-bans", env) == 0
    alive = set(first[100:]) | set(second)
    assert {row[0].decode() for row in journal_rows()} == alive  # the unbans propagated, every ban journaled
    admin.flushall()
    assert run_job_file("redissync-bans", env) == 0
    restored = admin.dbsize() - 1  # minus the generation marker
    figures.record("bans_lost", len(alive) - restored)
    assert restored == len(alive)
    assert not any(admin.exists(key) for key in unbanned)
