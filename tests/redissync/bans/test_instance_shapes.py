"""The bans pass over instances of every release, through real HTTP (harness/instances.py follows each
release's ``api.lua``): 1.6 rows and empty answer, 1.6.16's CrowdSec leases (never propagated), 1.7's absolute
``expires_at`` (it wins over a stale ``exp``), its ``"data": {}`` and its paging."""

from __future__ import annotations

import json
import time

import pytest

from harness.instances import RELEASES, StandInInstance, StandInInstancesDatabase
from redissync.bans import instances, reconcile
from redissync.bans.archive import open_journal
from redissync.bans.instances import BunkerWebInstances, StdlibApi
from redissync.connection import connect
from redissync.settings import load_settings
from redissync.state import open_state

pytestmark = pytest.mark.usefixtures("job_cache_mode")


@pytest.fixture
def stand_ins(plain_redis):
    started: list[StandInInstance] = []

    def make(release: str, clock=time.time) -> StandInInstance:
        instance = StandInInstance(f"bw-{len(started)}", plain_redis.port, clock, release=release).start()
        started.append(instance)
        return instance

    yield make
    for instance in started:
        instance.stop()


def fetch(*instances_: StandInInstance):
    return BunkerWebInstances(StandInInstancesDatabase(list(instances_)), StdlibApi, timeout=2).fetch_bans()


def run_pass(redis_server, *instances_: StandInInstance):
    client = connect(load_settings(redis_server.settings_env()))
    try:
        instances = BunkerWebInstances(StandInInstancesDatabase(list(instances_)), StdlibApi, timeout=2)
        return reconcile(client, open_state(), instances=instances)
    finally:
        client.close()


def journaled(key: str) -> bool:
    with open_journal(open_state(), readonly=True) as journal:
        return bool(journal.known([key.encode()]))


def local_only_ban(redis_server, instance: StandInInstance, ip: str, ttl: int | None, service: str | None = None) -> None:
    redis_server.stop()
    assert instance.ban(ip, service=service, ttl=ttl) is False
    redis_server.start()


@pytest.mark.parametrize("release", RELEASES)
def test_every_release_answers_rows_and_an_empty_listing(release: str, stand_ins) -> None:
    instance = stand_ins(release)
    [empty] = fetch(instance)
    assert (empty.error, empty.listed, empty.rows) == (None, {}, 0)
    if release == "1.7":  # do_api_call tests for a table first: cjson writes the empty one as an object
        listing = instance.listing()
        assert (listing["msg"], listing["data"], listing["generation_epoch"] > 0) == ("success", {}, True)
    else:
        assert instance.listing() == {"status": "success", "msg": ""}
    instance.ban("192.0.2.10", ttl=600)
    instance.ban("192.0.2.11", service="shop.example.com", ttl=None)
    [answer] = fetch(instance)
    bans = {ban.key: ban for ban in answer.bans}
    assert set(bans) == {"bans_ip_192.0.2.10", "bans_service_shop.example.com_ip_192.0.2.11"}
    assert 590 <= bans["bans_ip_192.0.2.10"].exp <= 600
    assert bans["bans_service_shop.example.com_ip_192.0.2.11"].permanent
    row = instance.listing()["data"][0]
    assert ("kind" in row, "expires_at" in row) == (release == "1.6.16", release == "1.7")


def test_1616_a_lease_listed_while_redis_lacks_the_ban_is_never_written(stand_ins, plain_redis) -> None:
    """The issue's case: a lease row, no ``bans_ip_<ip>`` in Redis. Before: written as a plain ban and journaled."""
    instance = stand_ins("1.6.16")
    local_only_ban(plain_redis, instance, "203.0.113.7", ttl=3600)  # a real local-only ban next to the leases
    lease = instance.lease("203.0.113.5", ttl=120)
    service_lease = instance.lease("203.0.113.6", service="shop.example.com", ttl=120)
    admin = plain_redis.client()
    before = {key: (admin.get(key), admin.pttl(key)) for key in (lease, service_lease, "cs_epoch_203.0.113.5")}
    assert all(kind == "crowdsec_lease" for kind in (row.get("kind") for row in instance.listing()["data"]
                                                     if row["ip"] != "203.0.113.7"))
    result = run_pass(plain_redis, instance)
    assert (result.instances.propagated, result.instances.leases) == (1, 2)
    assert "2 CrowdSec leases left to CrowdSec" in result.line()
    assert admin.exists("bans_ip_203.0.113.7")
    for ip in ("203.0.113.5", "203.0.113.6"):
        assert not admin.exists(f"bans_ip_{ip}") and not admin.exists(f"bans_service_shop.example.com_ip_{ip}")
        assert not journaled(f"bans_ip_{ip}")
    for key, (value, pttl) in before.items():
        assert admin.get(key) == value and 0 < admin.pttl(key) <= pttl, key
    with open_journal(open_state(), readonly=True) as journal:
        assert not [entry.key for entry in journal.entries() if b"_cs_" in entry.key or b"cs_epoch" in entry.key]


def test_17_expires_at_wins_over_a_stale_exp(stand_ins, plain_redis) -> None:
    """An answer 8 s old (a slow instance, a long queue): ``exp`` says more than 30 s are left, ``expires_at`` at
    most 28. With 30 s or less left it may be a 30 s cache copy (docs/bans.md rule 4): left alone. 1.6 rows only
    have the stale ``exp``: that ban is written, with up to 8 s too many."""
    late = lambda: time.time() - 8  # noqa: E731  the instance's snapshot was taken 8 s before our wall clock
    new, old = stand_ins("1.7", late), stand_ins("1.6", late)
    local_only_ban(plain_redis, new, "198.51.100.1", ttl=36)
    local_only_ban(plain_redis, old, "198.51.100.2", ttl=36)
    [row] = new.listing()["data"]
    assert row["exp"] > 30 and row["expires_at"] - time.time() <= 28
    result = run_pass(plain_redis, new, old)
    assert (result.instances.propagated, result.instances.short_lived) == (1, 1)
    assert not plain_redis.client().exists("bans_ip_198.51.100.1")
    assert 30 < plain_redis.client().ttl("bans_ip_198.51.100.2") <= 36


def test_17_a_propagated_ban_keeps_its_absolute_expiry(stand_ins, plain_redis) -> None:
    instance = stand_ins("1.7", lambda: time.time() - 20)  # a 20 s old snapshot
    local_only_ban(plain_redis, instance, "198.51.100.3", ttl=600)
    assert run_pass(plain_redis, instance).instances.propagated == 1
    assert 575 <= plain_redis.client().ttl("bans_ip_198.51.100.3") <= 580  # 600 - 20, not 600
    stored = json.loads(plain_redis.client().get("bans_ip_198.51.100.3"))
    assert stored["ban_scope"] == "global" and stored["permanent"] is False


def test_17_paging_fetches_every_row(stand_ins, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instances, "PAGE_LENGTH", 4)
    instance = stand_ins("1.7")
    instance.page_size = 3  # an answer without ?start= holds 3 rows and "total": 11
    for n in range(11):
        instance.ban(f"192.0.2.{100 + n}", ttl=900)
    [answer] = fetch(instance)
    assert (answer.error, len(answer.listed), answer.rows) == (None, 11, 11)
    assert [r.split(" ")[1] for r in instance.requests] == [
        "/bans", "/bans?start=3&length=4", "/bans?start=7&length=4"]


def test_17_a_failing_page_makes_the_instance_silent(stand_ins, monkeypatch: pytest.MonkeyPatch) -> None:
    """Half a listing must not read as everything the instance holds (unbans are forgotten on that basis)."""
    instance = stand_ins("1.7")
    instance.page_size = 2
    for n in range(5):
        instance.ban(f"192.0.2.{n + 1}", ttl=900)
    original = instance.listing

    def second_page_breaks(start=None, length=None):
        if start:
            instance.raw_answer = (500, b'{"status": "error", "msg": "boom"}')
        return original(start, length)

    monkeypatch.setattr(instance, "listing", second_page_breaks)
    [answer] = fetch(instance)
    assert answer.error == "answered HTTP 500 (rows 2 onwards)"
    assert answer.listed == {}
