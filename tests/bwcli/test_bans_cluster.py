"""``bwcli plugin redissync bans`` on a real Redis Cluster (3 masters + 3 replicas), as the least-privilege user with
its cluster additions: import writes under BunkerWeb's cluster names (``bans_ip_{<ip>}``), slot by slot; forget
takes the pass lock on the cluster; CrowdSec's leases and fences are never touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.acl import LEAST_PASSWORD, LEAST_USER, least_privilege_rule
from harness.bans import bans_state, run_pass, write_ban
from harness.jobrun import run_bwcli
from redissync.bans.archive import open_journal
from redissync.keys import BANS_LOCK_KEY, BanKey, bad_behavior_key

IPS = [f"192.0.2.{i}" for i in range(1, 31)]  # 30 IPs: their cluster names spread over the three masters


def least_env(cluster) -> dict[str, str]:
    cluster.set_user(LEAST_USER, LEAST_PASSWORD, least_privilege_rule(cluster=True))
    return cluster.settings_env(REDIS_USERNAME=LEAST_USER, REDIS_PASSWORD=LEAST_PASSWORD)


def masters_holding(cluster, keys: list[str]) -> int:
    """On how many masters ``keys`` live (each master's own keyspace scanned, never through the cluster client)."""
    wanted = {key.encode() for key in keys}
    holding = 0
    for master in cluster.masters():
        with master.client() as node:
            holding += any(key in wanted for key in node.scan_iter(count=1000))
    return holding


def test_a_standalone_export_imports_under_cluster_names_on_every_master(plain_redis, acl_cluster, tmp_path: Path, capsys) -> None:
    admin = plain_redis.client()
    for ip in IPS:
        write_ban(admin, ip, ttl=3600)
    write_ban(admin, IPS[0], service="shop_{eu}%", ttl=None)  # a service name BunkerWeb escapes in cluster mode
    run_pass(plain_redis)  # the journal a standalone pass leaves, then a cluster
    dump = tmp_path / "bans.jsonl"
    assert run_bwcli("bans.py", plain_redis.settings_env(), ["export", "--output", str(dump)]) == 0
    assert "exported 31 bans" in capsys.readouterr().out

    cluster = acl_cluster.client()
    cluster.set(BanKey(IPS[1]).key_in(cluster=True), "already banned here", ex=50)
    lease, fence = "bans_cs_ip_{203.0.113.40}", "cs_epoch_{203.0.113.40}"
    cluster.set(lease, '{"kind":"crowdsec_lease"}', ex=300)
    cluster.set(fence, "ab12:1", ex=604_800)
    leases_before = {key: (cluster.get(key), cluster.pttl(key)) for key in (lease, fence)}
    dump.write_text(dump.read_text() + json.dumps({"key": lease, "value": "{}", "ttl": 600}) + "\n")

    assert run_bwcli("bans.py", least_env(acl_cluster), ["import", str(dump)]) == 0
    out = capsys.readouterr().out
    assert "30 bans restored, 1 already in Redis (kept)" in out and "1 CrowdSec leases (skipped" in out, out
    cluster_names = [BanKey(ip).key_in(cluster=True) for ip in IPS]
    assert all(cluster.exists(key) for key in cluster_names)
    assert masters_holding(acl_cluster, cluster_names) == 3
    assert not any(cluster.exists(BanKey(ip).key) for ip in IPS[:3]), "only the current mode's names are written"
    assert cluster.get(cluster_names[1]) == "already banned here"  # NX: never overwritten
    assert 3_500_000 < cluster.pttl(cluster_names[5]) <= 3_600_000
    service_key = "bans_service_shop_%7Beu%7D%25_ip_{192.0.2.1}"
    assert cluster.pttl(service_key) == -1  # permanent, under rediskeys.lua's escaping
    assert json.loads(cluster.get(service_key))["ban_scope"] == "service"
    assert cluster.get(lease) == leases_before[lease][0] and cluster.get(fence) == leases_before[fence][0]
    assert all(0 < cluster.pttl(key) <= before for key, (_, before) in leases_before.items()), "no lease TTL renewed"
    cluster.close()


def test_forget_all_on_the_cluster_as_the_least_privilege_user(plain_redis, acl_cluster, capsys) -> None:
    admin = plain_redis.client()
    for ip in IPS[:3]:
        write_ban(admin, ip, ttl=3600)
    run_pass(plain_redis)
    env = least_env(acl_cluster)
    assert run_bwcli("bans.py", env, ["forget", "--all"]) == 0
    assert capsys.readouterr().out.startswith("forget: would forget 3 journaled bans (3 not expired)")
    cluster = acl_cluster.client()
    cluster.set(BANS_LOCK_KEY, "another-scheduler", px=30_000)
    assert run_bwcli("bans.py", env, ["forget", "--all", "--yes"]) == 1
    assert "a bans pass is running" in capsys.readouterr().err
    cluster.delete(BANS_LOCK_KEY)
    assert run_bwcli("bans.py", env, ["forget", "--all", "--yes"]) == 0
    assert capsys.readouterr().out.startswith("forget: forgot 3 journaled bans")
    assert not cluster.exists(BANS_LOCK_KEY), "the lock taken on the cluster was released"
    with open_journal(bans_state(), readonly=True) as journal:
        assert journal.count() == 0
    cluster.close()


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"], ["export"]])
def test_reading_the_journal_needs_no_cluster(argv, plain_redis, redis_cluster, capsys) -> None:
    write_ban(plain_redis.client(), IPS[0], ttl=3600)
    run_pass(plain_redis)
    assert run_bwcli("bans.py", redis_cluster.settings_env(), argv) == 0
    assert IPS[0] in capsys.readouterr().out


def test_forget_one_ip_on_every_master_as_the_least_privilege_user(plain_redis, acl_cluster, capsys) -> None:
    ip = "192.0.2.1"
    admin = plain_redis.client()
    for service in (None, "shop", "blog"):
        write_ban(admin, ip, service=service, ttl=3600)
    write_ban(admin, "192.0.2.10", ttl=3600)
    run_pass(plain_redis)
    cluster = acl_cluster.client()
    bans = [BanKey(ip, service).key_in(cluster=True) for service in (None, "shop", "blog", "a_ip_{x}")]
    bans.append(BanKey(ip).key)  # a historical name left on the cluster: another slot, maybe another master
    counters = [bad_behavior_key(ip, None, cluster=True), bad_behavior_key(ip, "shop", cluster=True)]
    crowdsec = [f"bans_cs_ip_{{{ip}}}", f"cs_epoch_{{{ip}}}"]
    others = [BanKey("192.0.2.10").key_in(cluster=True), bad_behavior_key("192.0.2.10", None, cluster=True)]
    for key in bans + counters + crowdsec + others:
        cluster.set(key, "1", ex=3600)
    env = least_env(acl_cluster)

    assert run_bwcli("bans.py", env, ["forget", "--ip", ip]) == 0
    assert capsys.readouterr().out.startswith(f"forget: would forget 3 journaled bans of {ip}, and its 5 ban keys and "
                                              "2 bad-behaviour counters in Redis")
    assert all(cluster.exists(key) for key in bans)
    assert run_bwcli("bans.py", env, ["forget", "--ip", ip, "--yes"]) == 0
    assert capsys.readouterr().out.startswith(f"forget: forgot 3 journaled bans of {ip}")
    assert not any(cluster.exists(key) for key in bans + counters)
    assert all(cluster.exists(key) for key in crowdsec + others)
    with open_journal(bans_state(), readonly=True) as journal:
        assert [entry.ip for entry in journal.entries()] == ["192.0.2.10"]
    assert run_bwcli("bans.py", env, ["forget", "--ip", "not-an-ip"]) == 2
    assert "'not-an-ip' is not an IPv4 or IPv6 address" in capsys.readouterr().err
    cluster.close()
