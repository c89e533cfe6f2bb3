"""The reconciliation pass against real Redis servers: data loss is restored, real unbans propagate."""

from __future__ import annotations

import json
import logging
import threading
import time
from array import array

import pytest

from harness.bans import bans_state, run_pass, write_ban
from harness.servers import wait_until
from redissync.bans.cycle import SPREAD, BanPolicy, one_pass, reconcile, spread
from redissync.bans.entry import classify_row
from redissync.bans.journal import ID_SHIFT, Journal
from redissync.connection import connect
from redissync.keys import BANS_LOCK_KEY as LOCK_KEY
from redissync.keys import GENERATION_KEY
from redissync.settings import load_settings

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache


def job_client(server):
    return connect(load_settings(server.settings_env()))


def test_restore_after_flushall_with_remaining_ttl(plain_redis) -> None:
    admin = plain_redis.client()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(20)]
    first = run_pass(plain_redis)
    assert (first.seen, first.new, first.restored) == (20, 20, 0)
    before = {key: admin.get(key) for key in keys}
    admin.flushall()
    result = run_pass(plain_redis)
    assert result.restored == 20
    assert "flushed" in result.verdict
    for key in keys:
        assert admin.get(key) == before[key]
        assert 3590_000 < admin.pttl(key) <= 3600_000
    again = run_pass(plain_redis)  # idempotent: nothing left to do
    assert (again.restored, again.new, again.changed, again.unbans) == (0, 0, 0, 0)


def test_restore_after_restart_without_persistence(plain_redis) -> None:
    admin = plain_redis.client()
    key = write_ban(admin, "198.51.100.7", ttl=600)
    run_pass(plain_redis)
    plain_redis.restart()
    admin = plain_redis.client()
    assert not admin.exists(key)
    result = run_pass(plain_redis)
    assert result.restored == 1
    assert json.loads(admin.get(key))["reason"] == "bad behavior"
    assert 590_000 < admin.pttl(key) <= 600_000


def test_real_unban_is_dropped_and_counters_cleared(plain_redis) -> None:
    admin = plain_redis.client()
    ip = "203.0.113.9"
    global_key = write_ban(admin, ip)
    service_key = write_ban(admin, ip, service="shop.example.com")
    other = write_ban(admin, "203.0.113.10")
    admin.set(f"plugin_bad_behavior_{ip}", 7, ex=60)
    admin.set(f"plugin_bad_behavior_shop.example.com_{ip}", 3, ex=60)
    admin.set("plugin_bad_behavior_203.0.113.10", 5, ex=60)
    run_pass(plain_redis)
    admin.delete(global_key, service_key)  # what BunkerWeb's unban does (global unban lifts every scope)
    result = run_pass(plain_redis)
    assert (result.unbans, result.restored, result.counters_cleared) == (2, 0, 2)
    assert not admin.exists(global_key, service_key, f"plugin_bad_behavior_{ip}", f"plugin_bad_behavior_shop.example.com_{ip}")
    assert admin.exists(other, "plugin_bad_behavior_203.0.113.10") == 2
    admin.flushall()  # the unban stays an unban even after a later data loss
    assert run_pass(plain_redis).restored == 1
    assert not admin.exists(global_key, service_key)
    assert admin.exists(other)


def test_restore_switched_off_forgets_what_was_lost(plain_redis) -> None:
    """REDISSYNC_RESTORE_BANS=no: a FLUSHALL on purpose clears bans for good, even once the switch is back on."""
    admin = plain_redis.client()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(3)]
    run_pass(plain_redis)
    admin.flushall()
    settings = load_settings(plain_redis.settings_env(REDISSYNC_RESTORE_BANS="no"))
    client = connect(settings)
    try:
        line = one_pass(settings, client, bans_state(), logging.getLogger("test"))
    finally:
        client.close()
    assert "0 restored" in line
    assert "3 lost bans forgotten (REDISSYNC_RESTORE_BANS=no)" in line
    assert not admin.exists(*keys)
    admin.flushall()
    assert run_pass(plain_redis).restored == 0
    assert not admin.exists(*keys)


def test_unban_keeps_counters_when_switched_off(plain_redis) -> None:
    admin = plain_redis.client()
    ip = "203.0.113.19"
    key = write_ban(admin, ip)
    admin.set(f"plugin_bad_behavior_{ip}", 7, ex=60)
    run_pass(plain_redis)
    admin.delete(key)
    client = job_client(plain_redis)
    try:
        result = reconcile(client, bans_state(), policy=BanPolicy(clear_counters_on_unban=False))
    finally:
        client.close()
    assert (result.unbans, result.counters_cleared) == (1, 0)
    assert admin.get(f"plugin_bad_behavior_{ip}") == b"7"


def test_expired_while_down_is_not_resurrected(plain_redis) -> None:
    admin = plain_redis.client()
    short = "bans_ip_192.0.2.50"
    admin.set(short, '{"reason":"short"}', px=1500)
    long = write_ban(admin, "192.0.2.51", ttl=3600)
    run_pass(plain_redis)
    plain_redis.restart()
    written = time.monotonic()
    wait_until(lambda: time.monotonic() - written > 1.6, 5, "the short ban's expiry to pass")
    result = run_pass(plain_redis)
    admin = plain_redis.client()
    assert (result.restored, result.expired) == (1, 1)
    assert not admin.exists(short)
    assert admin.exists(long)


def test_permanent_bans_stay_permanent(plain_redis) -> None:
    admin = plain_redis.client()
    key = write_ban(admin, "2001:db8::42", ttl=None)
    run_pass(plain_redis)
    admin.flushall()
    assert run_pass(plain_redis).restored == 1
    assert admin.pttl(key) == -1
    assert json.loads(admin.get(key))["permanent"] is True


def test_service_scope_kept_even_with_ip_in_service_name(plain_redis) -> None:
    admin = plain_redis.client()
    key = write_ban(admin, "192.0.2.77", service="my_ip_app.example.com", ttl=900)
    assert key == "bans_service_my_ip_app.example.com_ip_192.0.2.77"
    admin.set("plugin_bad_behavior_my_ip_app.example.com_192.0.2.77", 4)
    admin.set("plugin_bad_behavior_192.0.2.77", 4)
    run_pass(plain_redis)
    summary = bans_state().read_json("bans-summary.json")
    assert summary["by_scope"] == {"service": 1}
    assert summary["recent"][0]["service"] == "my_ip_app.example.com"
    assert summary["recent"][0]["ip"] == "192.0.2.77"
    admin.flushall()
    run_pass(plain_redis)
    assert admin.exists(key)
    assert 890_000 < admin.pttl(key) <= 900_000
    admin.set("plugin_bad_behavior_my_ip_app.example.com_192.0.2.77", 4)
    admin.set("plugin_bad_behavior_192.0.2.77", 4)
    admin.delete(key)
    result = run_pass(plain_redis)
    assert (result.unbans, result.counters_cleared) == (1, 1)
    assert admin.exists("plugin_bad_behavior_192.0.2.77")  # a service unban leaves the global counter alone


def test_ban_recreated_meanwhile_is_never_overwritten(plain_redis) -> None:
    admin = plain_redis.client()
    key = write_ban(admin, "192.0.2.88", reason="old", ttl=3600)
    run_pass(plain_redis)
    admin.flushall()
    write_ban(admin, "192.0.2.88", reason="fresh", ttl=120)  # an instance re-banned it before our pass
    result = run_pass(plain_redis)
    assert result.restored == 0
    assert result.changed == 1
    assert json.loads(admin.get(key))["reason"] == "fresh"
    assert admin.pttl(key) <= 120_000


def test_restore_uses_nx_against_a_concurrent_write(plain_redis) -> None:
    from redissync.bans.archive import open_journal
    from redissync.bans.writeback import restore

    admin = plain_redis.client()
    key = write_ban(admin, "192.0.2.89", reason="journaled", ttl=3600)
    run_pass(plain_redis)
    with open_journal(bans_state()) as journal:
        entries = list(journal.entries())
    admin.flushall()
    write_ban(admin, "192.0.2.89", reason="instance", ttl=60)  # lands between our scan and our restore
    assert restore(job_client(plain_redis), entries) == (0, 1)
    assert json.loads(admin.get(key))["reason"] == "instance"


def test_malformed_values_survive_untouched(plain_redis) -> None:
    admin = plain_redis.client()
    odd = {
        "bans_ip_192.0.2.101": b"bad behavior",  # badbehavior's plain first write (docs/bunkerweb-data.md §bans): not malformed
        "bans_ip_192.0.2.105": b"{broken json",
        "bans_ip_192.0.2.102": b"\xff\xfe\x00binary",
        "bans_ip_192.0.2.103": b"{" + b"x" * (70 * 1024),  # > 64 KiB
        "bans_ip_not-an-ip": b'{"reason":"odd key"}',
    }
    for key, value in odd.items():
        admin.set(key, value, ex=3600)
    admin.hset("bans_ip_192.0.2.104", "reason", "wrong type")
    first = run_pass(plain_redis)
    assert first.malformed == 5
    assert first.malformed_kinds == {"not-json": 1, "binary": 1, "too-large": 1, "key": 1, "type": 1}
    for key, value in odd.items():
        assert admin.get(key) == value
    admin.flushall()
    assert run_pass(plain_redis).restored == 5
    for key, value in odd.items():
        assert admin.get(key) == value
        assert admin.pttl(key) > 3500_000


def test_two_concurrent_passes_do_not_double_apply(plain_redis) -> None:
    admin = plain_redis.client()
    for i in range(300):
        write_ban(admin, f"198.51.100.{i % 250}", service=None if i < 250 else f"svc{i}", ttl=3600)
    run_pass(plain_redis)
    admin.flushall()
    barrier = threading.Barrier(2)
    results = []

    def worker() -> None:
        client = job_client(plain_redis)
        barrier.wait()
        results.append(reconcile(client, bans_state()))
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2
    assert sum(r.restored for r in results) == 300
    assert sum(r.kept for r in results) == 0  # no NX collision: the lock kept the passes apart
    assert admin.dbsize() == 301  # 300 bans + the generation marker; the lock was released
    assert not admin.exists(LOCK_KEY)


def test_held_lock_skips_the_pass(plain_redis) -> None:
    admin = plain_redis.client()
    admin.set(LOCK_KEY, "someone-else", px=5000)
    result = run_pass(plain_redis)
    assert result.skipped
    assert "held" in result.line()
    assert admin.get(LOCK_KEY) == b"someone-else"


def test_unchanged_pass_writes_nothing(plain_redis) -> None:
    """Write cost follows what changed: a quiet pass commits no row."""
    from redissync.bans.absorb import absorb
    from redissync.bans.archive import open_journal
    from redissync.bans.cycle import PassResult

    admin = plain_redis.client()
    for i in range(50):
        write_ban(admin, f"192.0.2.{i}", ttl=3600)
    run_pass(plain_redis)
    client = job_client(plain_redis)
    with open_journal(bans_state()) as journal:
        journal.begin()
        missing, indexed = absorb(client, journal, PassResult())
        journal.rollback()
        assert journal.changes == 0
        assert not list(missing.values())
        assert indexed  # the first pass wrote the index's base, this one loaded it
    write_ban(admin, "192.0.2.1", reason="again", ttl=7200)  # a re-ban: a fresh expiry
    with open_journal(bans_state()) as journal:
        journal.begin()
        absorb(client, journal, result := PassResult())
        journal.rollback()
        assert journal.changes == 1
        assert result.changed == 1


def test_generation_marker_created_once(plain_redis) -> None:
    admin = plain_redis.client()
    run_pass(plain_redis)
    marker = admin.get(GENERATION_KEY)
    assert marker
    run_pass(plain_redis)
    assert admin.get(GENERATION_KEY) == marker


@pytest.mark.parametrize("count", [2500])
def test_many_bans_stream_in_batches(plain_redis, count: int) -> None:
    admin = plain_redis.client()
    pipe = admin.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"bans_ip_10.1.{i // 256}.{i % 256}", '{"reason":"x"}', ex=600)
    pipe.execute()
    assert run_pass(plain_redis).new == count
    admin.flushall()
    assert run_pass(plain_redis).restored == count
    assert admin.dbsize() == count + 1


def test_a_restore_writes_one_ban_in_spread_first_from_across_the_journal_in_bit_reversed_order(tmp_path) -> None:
    """A first pass journals in SCAN order (Redis's bucket order): written back so into a Redis that kept its hash
    seed, the first bans would pile into a few buckets; spread() takes 1 in SPREAD first, evenly across the journal."""
    keys = [f"bans_ip_10.0.{number // 256}.{number % 256}".encode() for number in range(1000)]
    with Journal.in_directory(tmp_path) as journal:
        journal.begin()
        journal.upsert_rows([classify_row(key, b'{"reason":"x","date":5}', 10_000_000, 1) for key in keys])
        journal.commit()
        ids = array("q", sorted(packed >> ID_SHIFT for _, packed in journal.index_rows()))
        written = [row[0] for row in spread(journal, ids)]
    count = 16  # the largest power of two within 1000 // SPREAD = 31
    assert SPREAD == 32
    first = [keys[position * 1000 // count] for position in (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)]
    assert written[:count] == first
    assert written[count:] == [key for key in keys if key not in set(first)]  # the others in the journal's order
    with Journal.in_directory(tmp_path) as journal:
        few = array("q", sorted(packed >> ID_SHIFT for _, packed in journal.index_rows()))[:63]
        assert [row[0] for row in spread(journal, few)] == keys[:63]  # under 2 × SPREAD bans: as they come


def test_a_restore_of_a_first_pass_journal_after_flushall_writes_every_ban_back(plain_redis) -> None:
    admin = plain_redis.client()
    keys = [write_ban(admin, f"198.51.100.{number}", ttl=3600) for number in range(200)]
    assert run_pass(plain_redis).new == 200
    before = {key: admin.get(key) for key in keys}
    admin.flushall()
    assert run_pass(plain_redis).restored == 200
    assert {key: admin.get(key) for key in keys} == before
