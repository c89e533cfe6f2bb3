"""Bans only an instance holds reach Redis and the journal; copies of lifted bans never come back.

Real Redis, stand-in instances answering real HTTP on loopback (harness/instances.py). Time past the
30 s cache window is simulated by one shared clock: the stand-ins' datastore TTLs and the pass's
``local_only.wall_ms`` move together; Redis TTLs stay real (the bans used are long).
"""

from __future__ import annotations

import json
import time

import pytest

from harness.bans import write_ban
from harness.instances import StandInInstance, StandInInstancesDatabase, unban_everywhere
from redissync.bans import local_only, reconcile
from redissync.bans.archive import open_journal
from redissync.bans.cycle import BanPolicy
from redissync.bans.forget import forget_all
from redissync.bans.instances import BunkerWebInstances, StdlibApi
from redissync.connection import connect
from redissync.settings import load_settings
from redissync.state import open_state

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # a plain state dir, and BunkerWeb's job cache


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(local_only, "wall_ms", lambda: int(clock() * 1000))
    return clock


@pytest.fixture
def cluster(plain_redis, clock):
    """Three stand-in instances sharing ``plain_redis``; ``cluster.run()`` is one bans pass with them."""

    class Cluster:
        def __init__(self) -> None:
            self.instances = [StandInInstance(f"bw-{n}", plain_redis.port, clock).start() for n in "abc"]
            self.source = BunkerWebInstances(StandInInstancesDatabase(self.instances), StdlibApi, timeout=1)
            self.admin = plain_redis.client()

        def run(self, source=None, policy=None):
            client = connect(load_settings(plain_redis.settings_env()))
            try:
                return reconcile(client, open_state(), policy=policy or BanPolicy(), instances=source or self.source)
            finally:
                client.close()

        def ban_during_outage(self, instance: StandInInstance, ip: str, ttl: int | None) -> None:
            """A pass, then Redis stops, ``instance`` bans ``ip`` (it stays local), Redis restarts empty."""
            self.run()
            plain_redis.stop()
            assert instance.ban(ip, ttl=ttl) is False, "Redis was down: the ban must stay local"
            plain_redis.start()

        def journaled(self, key: str) -> bool:
            with open_journal(open_state(), readonly=True) as journal:
                return bool(journal.known([key.encode()]))

    cluster = Cluster()
    yield cluster
    for instance in cluster.instances:
        instance.stop()


def test_a_ban_made_while_redis_was_down_reaches_every_instance(cluster, plain_redis) -> None:
    a, b, c = cluster.instances
    cluster.ban_during_outage(a, "198.51.100.20", ttl=3600)  # Redis comes back empty (no persistence)
    admin = plain_redis.client()
    assert not b.is_banned("198.51.100.20")
    assert not c.is_banned("198.51.100.20")
    result = cluster.run()
    assert (result.instances.propagated, result.instances.sources, result.instances.answered) == (1, 1, 3)
    assert "1 local-only bans propagated from 1 instances (3/3 answered)" in result.line()
    assert all(instance.is_banned("198.51.100.20") for instance in cluster.instances), "every instance's view converges"
    assert 3590 <= admin.ttl("bans_ip_198.51.100.20") <= 3600
    assert json.loads(admin.get("bans_ip_198.51.100.20"))["permanent"] is False
    assert cluster.journaled("bans_ip_198.51.100.20")
    again = cluster.run()  # the next pass finds it in Redis: nothing more to do
    assert (again.instances.propagated, again.new, again.restored) == (0, 0, 0)


def test_a_ban_redis_lost_before_any_pass_saw_it(cluster) -> None:
    a, b, _ = cluster.instances
    cluster.run()
    assert a.ban("203.0.113.50", service="shop.example.com", ttl=7200)  # reached Redis…
    assert b.is_banned("203.0.113.50", "shop.example.com")  # …bw-b cached a 30 s copy of it
    cluster.admin.flushall()  # …and Redis lost it before the next pass
    result = cluster.run()
    key = "bans_service_shop.example.com_ip_203.0.113.50"
    assert result.instances.propagated == 1
    assert 7190 <= cluster.admin.ttl(key) <= 7200
    assert json.loads(cluster.admin.get(key))["ban_scope"] == "service"


def test_an_unban_holds_against_a_cached_permanent_copy(cluster, clock) -> None:
    a, b, c = cluster.instances
    key = write_ban(cluster.admin, "192.0.2.99", ttl=None, reason="manual")  # a permanent ban in Redis
    cluster.run()  # journaled
    assert c.is_banned("192.0.2.99")  # bw-c caches it for 30 s, listed as exp 0, permanent true
    unban_everywhere([a, b], "192.0.2.99")  # bw-c missed the POST /unban
    assert [ban["permanent"] for ban in c.listing()["data"]] == [True]
    result = cluster.run()
    assert result.unbans == 1
    assert result.instances.unbanned_copies == 1
    assert result.instances.propagated == 0
    assert not cluster.admin.exists(key)
    clock.advance(40)  # bw-c's copy expires; nothing else brings the ban back
    assert c.listing() == {"status": "success", "msg": ""}
    for _ in range(2):
        result = cluster.run()
        assert result.instances.propagated == 0
        assert not cluster.admin.exists(key)


def test_a_cached_permanent_copy_of_a_ban_no_pass_saw_is_not_resurrected(cluster, clock) -> None:
    a, b, c = cluster.instances
    cluster.run()
    key = write_ban(cluster.admin, "192.0.2.77", ttl=None)  # banned between two passes…
    assert c.is_banned("192.0.2.77")  # …bw-c cached it…
    unban_everywhere([a, b], "192.0.2.77")  # …and it was lifted before any pass saw it (bw-c missed the unban)
    first = cluster.run()
    assert (first.instances.waiting, first.instances.propagated) == (1, 0)
    assert not cluster.admin.exists(key)
    clock.advance(40)
    second = cluster.run()
    assert (second.instances.waiting, second.instances.propagated) == (0, 0)
    assert not cluster.admin.exists(key)


def test_a_real_permanent_local_ban_is_propagated_one_window_later(cluster, clock) -> None:
    a = cluster.instances[0]
    cluster.ban_during_outage(a, "192.0.2.55", ttl=None)
    first = cluster.run()
    assert first.instances.waiting == 1
    assert not cluster.admin.exists("bans_ip_192.0.2.55")
    clock.advance(20)
    assert cluster.run().instances.waiting == 1, "less than 35 s later it could still be a cache copy"
    clock.advance(20)
    third = cluster.run()
    assert third.instances.propagated == 1
    assert cluster.admin.ttl("bans_ip_192.0.2.55") == -1, "permanent stays permanent"


def test_a_new_ban_after_an_unban_is_not_held_back(cluster, clock) -> None:
    b = cluster.instances[1]
    key = write_ban(cluster.admin, "192.0.2.66", ttl=3600)
    cluster.run()
    unban_everywhere(cluster.instances, "192.0.2.66")
    assert cluster.run().unbans == 1
    clock.advance(5)  # the IP misbehaves again while Redis is down: a new ban, dated after the unban
    cluster.ban_during_outage(b, "192.0.2.66", ttl=3600)
    assert cluster.run().instances.propagated == 1
    assert cluster.admin.exists(key)


def test_short_lived_copies_are_left_alone(cluster) -> None:
    b = cluster.instances[1]
    cluster.run()
    write_ban(cluster.admin, "192.0.2.44", ttl=3600)
    assert b.is_banned("192.0.2.44")  # a 30 s copy of a ban with an expiry
    cluster.admin.delete("bans_ip_192.0.2.44")  # gone from Redis before any pass saw it
    result = cluster.run()
    assert (result.instances.short_lived, result.instances.propagated) == (1, 0)


def test_a_silent_instance_does_not_stop_the_pass(cluster) -> None:
    a, _, c = cluster.instances
    cluster.ban_during_outage(a, "198.51.100.30", ttl=600)
    c.delay = 30  # answers after the pass has given up on it
    started = time.monotonic()
    result = cluster.run()
    assert time.monotonic() - started < 10
    assert result.instances.propagated == 1
    assert result.instances.silent == {f"127.0.0.1:{c.port}": "timed out"}
    assert f"no answer from 127.0.0.1:{c.port} (timed out)" in result.line()


def test_hostile_answers_are_counted_and_the_rest_propagates(cluster) -> None:
    a, b, c = cluster.instances
    cluster.ban_during_outage(a, "198.51.100.40", ttl=600)
    b.raw_answer = (200, json.dumps({"status": "success", "msg": "success", "data": [
        {"ip": "not-an-ip", "exp": 600, "permanent": False}, {"ip": "198.51.100.41", "exp": "soon"}, "junk",
        {"ip": "198.51.100.42", "exp": 600, "permanent": False, "ban_scope": "service", "service": "../etc"}]}).encode())
    c.raw_answer = (200, b"{\"status\": \"success\", \"data\": ")
    result = cluster.run()
    assert result.instances.propagated == 1
    assert result.instances.malformed == 4
    assert result.instances.silent == {f"127.0.0.1:{c.port}": "answered something that is not JSON"}
    assert cluster.admin.keys("bans_*") == [b"bans_ip_198.51.100.40"]


def test_outside_bunkerweb_the_pass_is_unchanged(plain_redis) -> None:
    write_ban(plain_redis.client(), "192.0.2.1")
    client = connect(load_settings(plain_redis.settings_env()))
    try:
        result = reconcile(client, open_state())
    finally:
        client.close()
    assert result.instances is None
    assert "local-only" not in result.line()
    assert not (open_state().directory / local_only.MEMORY_NAME).exists()


def test_restore_bans_no_brings_nothing_back_from_the_instances(cluster) -> None:
    # e.g. the operator's deliberate wipe, with REDISSYNC_RESTORE_BANS=no set before it
    cluster.ban_during_outage(cluster.instances[0], "198.51.100.60", ttl=600)
    result = cluster.run(policy=BanPolicy(restore_lost=False))
    assert result.instances is None
    assert not cluster.admin.exists("bans_ip_198.51.100.60")


def test_bans_forget_all_keeps_the_instances_copies_out_too(cluster, clock, plain_redis) -> None:
    a, b, _ = cluster.instances
    assert a.ban("198.51.100.70", ttl=3600)
    assert a.ban("198.51.100.71", ttl=None)  # bw-a's own copies
    cluster.run()
    plain_redis.client().flushall()  # the operator clears every ban on purpose…
    client = connect(load_settings(plain_redis.settings_env()))
    try:
        assert forget_all(client, open_state()).done  # …and tells redissync so
    finally:
        client.close()
    clock.advance(40)
    for _ in range(2):
        result = cluster.run()
        assert result.instances.propagated == 0
        assert result.instances.unbanned_copies == 2
    assert cluster.admin.keys("bans_*") == []
    clock.advance(5)
    cluster.ban_during_outage(b, "198.51.100.72", ttl=600)  # a ban made after the forget is a new ban
    assert cluster.run().instances.propagated == 1
