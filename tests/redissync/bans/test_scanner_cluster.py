"""What a script may touch on a Redis Cluster node (the scanner's choice rests on it), and the scanner over every master."""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from redissync.bans.scan_scripts import VERIFY_SLICES
from redissync.bans.scanner import BanScanner
from redissync.bans.writeback import CHUNK, restore
from redissync.clock import now_ms
from redissync.connection import connect
from redissync.keys import BanKey
from redissync.settings import load_settings

# SCAN on the node, then PTTL of every key found: keys of many hash slots, none declared.
SCAN_AND_READ = ("local reply = redis.call('SCAN', 0, 'COUNT', 1000) "
                 "for _, key in ipairs(reply[2]) do redis.call('PTTL', key) end return #reply[2]")


def fill(topology, count: int = 120) -> list[str]:
    admin = topology.client()
    keys = [BanKey(f"192.0.2.{i % 250}", None if i < 250 else "shop.example.com").key_in(cluster=True) for i in range(count)]
    for key in keys:
        admin.set(key, '{"reason":"manual"}', ex=3600)
    return keys


def test_a_script_without_shebang_reads_keys_of_every_slot_of_its_node_and_a_flagless_shebang_script_may_not(redis_cluster) -> None:
    """Redis 7: a script without a shebang line may touch undeclared keys of any slot its node serves
    (allow-cross-slot-keys is implied); ``#!lua`` without the flag is held to one slot; declared keys of several
    slots are refused either way. Redis 6.2 has no shebang and no such check."""
    fill(redis_cluster)
    master = redis_cluster.masters()[0]
    with master.client() as node:
        keys = [key for key in node.scan_iter("bans_*", count=1000)]
        assert len({redis_cluster.client().keyslot(key) for key in keys}) > 10, "the node's bans span many slots"
        assert node.eval(SCAN_AND_READ, 0) == len(keys)
        if int(node.info("server")["redis_version"].split(".")[0]) >= 7:
            with pytest.raises(ResponseError, match="same slot"):
                node.eval("#!lua\n" + SCAN_AND_READ, 0)
            assert node.eval("#!lua flags=allow-cross-slot-keys\n" + SCAN_AND_READ, 0) == len(keys)
        with pytest.raises(ResponseError, match="hash to the same slot"):
            node.eval("return redis.call('PTTL', KEYS[1])", 2, *keys[:2])


def test_the_scanner_reads_every_master_and_values_on_the_master_holding_them(redis_cluster) -> None:
    keys = fill(redis_cluster)
    client = connect(load_settings(redis_cluster.settings_env()))
    try:
        scanner = BanScanner(client)
        assert len(scanner.nodes) == 3
        seen = [key.decode() for _, flat, _ in scanner.expiries() for key in flat[0::2]]
        assert sorted(seen) == sorted(keys)
        verified = [(key.decode(), value) for slice_number in range(VERIFY_SLICES)
                    for _, _, valued in scanner.expiries(slice_number) for key, value in zip(valued[0::3], valued[1::3], strict=True)]
        assert sorted(verified) == sorted((key, b'{"reason":"manual"}') for key in keys)  # each in its slice, once
        _, flat = scanner.values([key.encode() for key in keys])
        assert flat[0::2] == [b'{"reason":"manual"}'] * len(keys)
        assert all(3590_000 < pttl <= 3600_000 for pttl in flat[1::2])
        triples = [rows[index:index + 3] for _, rows in scanner.batches() for index in range(0, len(rows), 3)]
        assert sorted(key.decode() for key, _, _ in triples) == sorted(keys)
        assert {value for _, value, _ in triples} == {b'{"reason":"manual"}'}
    finally:
        client.close()


def test_a_restore_writes_each_ban_on_the_master_serving_its_slot(redis_cluster) -> None:
    """Several batches per master (streamed on its connection) and the last, partial ones."""
    keys = [BanKey(f"203.0.{i // 250}.{i % 250}").key_in(cluster=True).encode() for i in range(10 * CHUNK + 7)]
    admin = redis_cluster.client()
    admin.set(keys[0], "already", ex=60)  # NX: a ban an instance re-created meanwhile wins
    client = connect(load_settings(redis_cluster.settings_env()))
    try:
        stamp = now_ms()
        rows = [(key, b'{"reason":"manual"}', stamp + 3600_000 if index % 2 else None) for index, key in enumerate(keys)]
        assert restore(client, rows, stamp) == (len(keys) - 1, 1)
    finally:
        client.close()
    assert admin.get(keys[0]) == "already"
    assert all(3590_000 < admin.pttl(key) <= 3600_000 for key in keys[1::2])
    assert all(admin.pttl(key) == -1 for key in keys[2::2])
    counts = [master.client().dbsize() for master in redis_cluster.masters()]
    assert len(counts) == 3 and all(count > 2 * CHUNK for count in counts), counts


def test_a_restore_during_a_slot_migration_follows_the_key_to_its_new_master(redis_cluster) -> None:
    """The slot map says the old master; the node refuses the key (its slot is migrating and the key is not there):
    that ban is written through the cluster client, which follows ASK, and counted once."""
    key = BanKey("198.51.100.77").key_in(cluster=True).encode()
    admin = redis_cluster.client()
    slot = admin.keyslot(key)
    rows = redis_cluster.rows()
    source = next(row for row in rows if "master" in row["flags"] and any(a <= slot <= b for a, b in row["slots"]))
    target = next(row for row in rows if "master" in row["flags"] and row["id"] != source["id"])
    client = connect(load_settings(redis_cluster.settings_env()))
    client.get_primaries()  # the slot map, read before the migration opens
    with redis_cluster.node_at(target["port"]).client() as node:
        node.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source["id"])
    with redis_cluster.node_at(source["port"]).client() as node:
        node.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target["id"])
    try:
        other = BanKey("198.51.100.78").key_in(cluster=True).encode()
        assert restore(client, [(key, b"{}", None), (other, b"{}", None)]) == (2, 0)
        with redis_cluster.node_at(target["port"]).client() as node:
            node.execute_command("ASKING")
            assert node.get(key) == b"{}", "written on the importing master"
    finally:
        client.close()
        for row in (source, target):
            with redis_cluster.node_at(row["port"]).client() as node:
                node.flushall()  # the key written mid-migration, before the slot goes back to its owner
                node.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
