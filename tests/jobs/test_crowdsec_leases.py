"""CrowdSec's ban leases (BunkerWeb 1.6.16~rc4, banlease.lua) are BunkerWeb's, never redissync's: no job and no
command writes, renews, deletes, journals or restores ``bans_cs_ip_*``, ``bans_cs_service_*`` or ``cs_epoch_*``.

"Touched" is measured by Redis itself: keyspace notifications (``notify-keyspace-events KA``) report every
write, expiry change or deletion of those keys while every job and every bwcli command runs, inside
BunkerWeb's stand-in (job cache, an instance of 1.6.16 listing the leases) and outside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bans import bans_state, write_ban
from harness.instances import StandInInstance
from harness.jobrun import run_bwcli, run_job_file
from redissync.bans.archive import open_journal

pytestmark = pytest.mark.usefixtures("job_cache_mode")
JOBS = ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions")
IP, SERVICE_IP = "203.0.113.40", "203.0.113.41"


@pytest.fixture
def leased(plain_redis, job_cache_mode):
    """Redis with two leases, their fences and one plain ban; a 1.6.16 instance listing the leases (inside BunkerWeb)."""
    instance = StandInInstance("bw-1", plain_redis.port, release="1.6.16").start()
    if job_cache_mode is not None:
        job_cache_mode.db.add_instance("127.0.0.1", name="bw-1", port=instance.port, server_name="bwapi")
    keys = [instance.lease(IP, ttl=300), instance.lease(SERVICE_IP, service="shop.example.com", ttl=300),
            f"cs_epoch_{IP}", f"cs_epoch_{SERVICE_IP}"]
    admin = plain_redis.client()
    admin.config_set("notify-keyspace-events", "KA")
    watcher = admin.pubsub()
    watcher.psubscribe("__keyspace@0__:bans_cs_*", "__keyspace@0__:cs_epoch_*")
    assert watcher.get_message(timeout=1)["type"] == "psubscribe"
    assert watcher.get_message(timeout=1)["type"] == "psubscribe"
    yield keys, watcher
    watcher.close()
    instance.stop()


def touched(watcher) -> list[str]:
    """Every keyspace event on a lease or fence key since the last call (PING: the events before it are in)."""
    watcher.ping()
    events = []
    while (message := watcher.get_message(timeout=1)) is not None and message["type"] != "pong":
        events.append(f"{message['channel'].decode().split(':', 1)[1]} {message['data'].decode()}")
    return events


def test_no_job_and_no_command_touches_a_lease_or_its_fence(plain_redis, leased, tmp_path: Path, capsys) -> None:
    keys, watcher = leased
    admin = plain_redis.client()
    admin.expire(keys[2], 604_800)  # the watcher sees a touch (what BunkerWeb's BUMP_SCRIPT does to a fence)
    assert touched(watcher) == [f"{keys[2]} expire"]
    before = {key: admin.get(key) for key in keys}
    ban = write_ban(admin, "198.51.100.9", ttl=3600)
    env = plain_redis.settings_env()
    for _ in range(2):  # the first bans pass journals, the second compares
        for job in JOBS:
            assert run_job_file(job, env) == 0, job
    assert touched(watcher) == []

    dump = tmp_path / "bans.jsonl"
    assert run_bwcli("bans.py", env, ["export", "--output", str(dump)]) == 0
    exported = [json.loads(line) for line in dump.read_text().splitlines()]
    assert [row["key"] for row in exported] == [ban]
    lease_rows = [{"key": keys[0], "value": before[keys[0]].decode(), "ttl": 600},  # as a hand-made dump might hold
                  {"key": keys[2], "value": before[keys[2]].decode(), "ttl": 600},
                  {"ip": "203.0.113.42", "reason": "crowdsec", "kind": "crowdsec_lease", "ttl": 600}]
    dump.write_text("".join(json.dumps(row) + "\n" for row in [*exported, *lease_rows]))
    admin.delete(ban)
    capsys.readouterr()
    assert run_bwcli("bans.py", env, ["import", str(dump)]) == 0
    out = capsys.readouterr().out
    assert "1 bans restored" in out and "3 CrowdSec leases (skipped: managed by CrowdSec)" in out, out
    for argv in (["list"], ["list", "--json"], ["list", "--ip", IP], ["forget", "--ip", IP], ["forget", "--ip", SERVICE_IP, "--yes"],
                 ["forget", "--all"], ["forget", "--all", "--yes"]):
        assert run_bwcli("bans.py", env, argv) == 0, argv
    for argv in (["stats"], ["revoke"], ["revoke", "--yes"]):
        assert run_bwcli("sessions.py", env, argv) == 0, argv
    assert run_bwcli("check.py", env, []) == 0
    assert not admin.exists("bans_ip_203.0.113.42")
    assert touched(watcher) == []
    assert {key: admin.get(key) for key in keys} == before
    with open_journal(bans_state(), readonly=True) as journal:
        assert not [entry.key for entry in journal.entries() if b"cs_" in entry.key]
