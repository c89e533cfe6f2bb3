"""Reaching the instances and reading their ``GET /bans``: the real wire shape, hostile answers, silence."""

from __future__ import annotations

import json
import time

import pytest

from harness.instances import StandInInstance, StandInInstancesDatabase
from harness.servers import free_port
from redissync.bans import instances, listing
from redissync.bans.instances import BunkerWebInstances, StdlibApi, instance_source
from redissync.bans.listing import parse_answer, parse_ban
from redissync.settings import load_settings
from redissync.state import StateStore

BAN = {"ip": "192.0.2.1", "reason": "bad behavior", "service": "unknown", "date": 1764400000, "country": "FR",
       "ban_scope": "global", "exp": 3600, "permanent": False}


def test_the_wire_shape_and_the_empty_answer() -> None:
    answer = parse_answer("a", {"status": "success", "msg": "success", "data": [BAN]})
    assert answer.error is None
    assert answer.malformed == 0
    [ban] = answer.bans
    assert (ban.key, ban.exp, ban.permanent, ban.service) == ("bans_ip_192.0.2.1", 3600, False, None)
    value = json.loads(ban.value(0))
    assert value == {"reason": "bad behavior", "service": "unknown", "date": 1764400000, "country": "FR",
                     "ban_scope": "global", "reason_data": {}, "permanent": False}
    empty = parse_answer("a", {"status": "success", "msg": ""})  # no bans: no "data" key at all
    assert (empty.error, empty.bans, empty.malformed) == (None, [], 0)
    assert parse_answer("a", {"status": "success", "msg": "success", "data": {}}).bans == []  # cjson's empty table
    legacy = parse_answer("a", {"status": "success", "msg": [BAN]})  # the list under "msg" (before do_api_call)
    assert [b.key for b in legacy.bans] == ["bans_ip_192.0.2.1"]


def test_service_and_permanent_bans() -> None:
    service = parse_ban({**BAN, "ban_scope": "service", "service": "shop.example.com", "ip": "2001:db8::1"}, time.time())
    assert service.key == "bans_service_shop.example.com_ip_2001:db8::1"
    assert json.loads(service.value(0))["ban_scope"] == "service"
    permanent = parse_ban({**BAN, "exp": 0, "permanent": True}, time.time())
    assert permanent.permanent
    assert json.loads(permanent.value(0))["permanent"] is True
    assert parse_ban({**BAN, "exp": 0}, time.time()).permanent  # no expiry in the datastore: permanent either way
    undated = parse_ban({k: v for k, v in BAN.items() if k not in ("date", "country", "reason")}, time.time())
    assert json.loads(undated.value(1234.5)) | {} == {"reason": "unknown", "service": "unknown", "date": 1234,
                                                        "country": "local", "ban_scope": "global", "reason_data": {},
                                                        "permanent": False}


@pytest.mark.parametrize("item", [
    "192.0.2.1", None, [BAN], {**BAN, "ip": "not-an-ip"}, {**BAN, "ip": 17}, {**BAN, "ip": "192.0.2.1_ip_1.2.3.4"},
    {**BAN, "exp": -1}, {**BAN, "exp": "3600"}, {**BAN, "exp": True}, {**BAN, "exp": 10**12}, {**BAN, "exp": 1.5},
    {**BAN, "permanent": "yes"}, {**BAN, "ban_scope": "cluster"}, {**BAN, "ban_scope": "service", "service": None},
    {**BAN, "ban_scope": "service", "service": "a b"}, {**BAN, "ban_scope": "service", "service": "x_ip_1.2.3.4/"},
    {**BAN, "date": "yesterday"}, {**BAN, "date": -5}, {**BAN, "reason": {"nested": 1}}, {**BAN, "reason_data": []},
    {**BAN, "reason_data": {"blob": "x" * 5000}},
])
def test_hostile_items_are_refused(item) -> None:
    assert parse_ban(item, time.time()) is None
    answer = parse_answer("a", {"status": "success", "msg": "success", "data": [item, {**BAN, "ip": "192.0.2.200"}]})
    # an item without a usable key is counted at once; one with a key is parsed whole only if Redis lacks it
    assert answer.error is None
    assert [ban.key for ban in answer.bans] == ["bans_ip_192.0.2.200"]
    assert answer.malformed + len(answer.listed) - len(answer.bans) == 1


@pytest.mark.parametrize("payload", [None, [], "success", {"status": "error", "msg": "boom"},
                                     {"status": "success", "msg": "success", "data": "everything"}])
def test_hostile_answers_are_errors_not_crashes(payload) -> None:
    answer = parse_answer("a", payload)
    assert answer.error
    assert answer.bans == []


def test_a_huge_list_is_capped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "MAX_BANS_PER_INSTANCE", 100)
    items = [{**BAN, "ip": f"10.0.{i // 256}.{i % 256}"} for i in range(1000)]
    answer = parse_answer("a", {"status": "success", "msg": "success", "data": items})
    assert (len(answer.bans), answer.malformed) == (100, 900)


@pytest.fixture
def stand_ins(plain_redis):
    started: list[StandInInstance] = []

    def make(name: str) -> StandInInstance:
        instance = StandInInstance(name, plain_redis.port).start()
        started.append(instance)
        return instance

    yield make
    for instance in started:
        instance.stop()


def test_answers_over_http_with_bunkerweb_rows(stand_ins) -> None:
    a, b = stand_ins("bw-a"), stand_ins("bw-b")
    a.ban("192.0.2.7", ttl=600)
    a.ban("192.0.2.8", service="app.example.com", ttl=None)
    answers = {x.name: x for x in BunkerWebInstances(StandInInstancesDatabase([a, b]), StdlibApi).fetch_bans()}
    assert {ban.key for ban in answers[f"127.0.0.1:{a.port}"].bans} == {
        "bans_ip_192.0.2.7", "bans_service_app.example.com_ip_192.0.2.8"}
    assert answers[f"127.0.0.1:{b.port}"].bans == []
    assert answers[f"127.0.0.1:{b.port}"].error is None
    assert a.requests == ["GET /bans Host=bwapi"]  # the Host header BunkerWeb's API server requires


def test_the_api_token_is_handed_down_never_read_from_the_environment(stand_ins, monkeypatch) -> None:
    """API_TOKEN reaches the instances through Settings.api_token (read once by the runner)."""
    monkeypatch.setenv("API_TOKEN", "Env-Token-never-read")
    a = stand_ins("bw-a")
    BunkerWebInstances(StandInInstancesDatabase([a]), StdlibApi, api_token="Api-Token-5e1f").fetch_bans()
    BunkerWebInstances(StandInInstancesDatabase([a]), StdlibApi).fetch_bans()
    assert a.authorizations == ["Bearer Api-Token-5e1f", None]
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "API_TOKEN": "Api-Token-5e1f"})
    assert settings.api_token == "Api-Token-5e1f"
    assert "Api-Token-5e1f" not in repr(settings)


def test_pre_1_6_5_api_class_is_built_from_the_row(stand_ins) -> None:
    class OldApi:  # BunkerWeb < 1.6.5: no from_instance, API(endpoint, host)
        def __init__(self, endpoint: str, host: str = "bwapi"):
            self.inner = StdlibApi(endpoint, host)

        def request(self, *args, **kwargs):
            return self.inner.request(*args, **kwargs)

    a = stand_ins("bw-a")
    a.ban("192.0.2.9")
    [answer] = BunkerWebInstances(StandInInstancesDatabase([a]), OldApi).fetch_bans()
    assert answer.name == "127.0.0.1"
    assert [ban.key for ban in answer.bans] == ["bans_ip_192.0.2.9"]


def test_silent_and_hostile_instances_are_named(stand_ins, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instances, "MAX_ANSWER_BYTES", 10_000)
    good, slow, garbage, error, huge, bomb = (stand_ins(n) for n in ("good", "slow", "garbage", "error", "huge", "bomb"))
    good.ban("192.0.2.1")
    slow.delay = 30
    garbage.raw_answer = (200, b"<html>not json</html>")
    error.raw_answer = (500, b'{"status": "error", "msg": "boom"}')
    huge.raw_answer = (200, b"[" + b"1," * 10_000 + b"1]")
    bomb.raw_answer = (200, b"[" * 5_000)
    closed = {"hostname": "127.0.0.1", "name": "gone", "port": free_port(), "server_name": "bwapi"}
    source = BunkerWebInstances(StandInInstancesDatabase([good, slow, garbage, error, huge, bomb], [closed]), StdlibApi, timeout=0.5)
    started = time.monotonic()
    answers = {a.name.split(":")[-1]: a for a in source.fetch_bans()}
    assert time.monotonic() - started < 5, "a silent instance must not hold the pass"
    port = {x.port: x for x in (good, slow, garbage, error, huge, bomb)}
    errors = {port[int(p)].name if int(p) in port else "closed": a.error for p, a in answers.items()}
    assert errors == {"good": None, "slow": "timed out", "garbage": "answered something that is not JSON",
                      "error": "answered HTTP 500", "huge": "answered more than 10,000 bytes",
                      "bomb": "answered something that is not JSON", "closed": "unreachable"}
    assert [b.key for b in answers[str(good.port)].bans] == ["bans_ip_192.0.2.1"]


def test_a_database_that_fails_is_reported() -> None:
    class Broken:
        def get_instances(self):
            raise RuntimeError("database is locked")

    [answer] = BunkerWebInstances(Broken(), StdlibApi).fetch_bans()
    assert answer.error == "could not be read (RuntimeError)"


def test_no_source_outside_bunkerweb(tmp_path) -> None:
    assert instance_source(StateStore(tmp_path)) is None

    class Job:  # BunkerWeb's Job: its db lists the instances
        db = StandInInstancesDatabase([])

    assert isinstance(instance_source(StateStore(tmp_path, Job())), BunkerWebInstances)
