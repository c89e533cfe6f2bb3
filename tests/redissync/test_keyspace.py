"""Bounded bulk reads: SCAN batches without repeats, and the prefetch thread that overlaps round trips."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from redissync.keys import BanKey
from redissync.keyspace import ALL_SLOTS, in_turn, prefetched, scan_batches, slot_masters, slot_of

TAGS = [b"", b"{", b"}", b"{}", b"{}x", b"a{b}c", b"a{}b{c}", b"{{a}}", b"x{y", b"x}y{z}", b"{a}{b}", b"a}{b}",
        BanKey("192.0.2.1").key_in(True).encode(), BanKey("2001:db8::1", "a{b}%c").key_in(True).encode()]


def test_scan_batches_yield_every_key_once_in_bounded_batches(plain_redis) -> None:
    client = plain_redis.client()
    client.mset({f"k:{i}": i for i in range(2500)})
    batches = list(scan_batches(client, match="k:*", batch_size=300, count=50))
    keys = [key for batch in batches for key in batch]
    assert len(keys) == len(set(keys)) == 2500
    assert max(map(len, batches)) <= 300


def test_prefetched_keeps_order_and_raises_the_producers_error_in_the_consumer() -> None:
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        raise ValueError("producer failed")

    consumer = prefetched(failing())
    assert next(consumer) == 1
    with pytest.raises(ValueError, match="producer failed"):
        next(consumer)


def test_prefetched_closed_early_stops_its_thread() -> None:
    produced = []

    def endless():
        for number in range(10**9):
            produced.append(number)
            yield number

    before = threading.active_count()
    consumer = prefetched(endless(), depth=2)
    assert next(consumer) == 0
    consumer.close()
    assert threading.active_count() == before
    assert len(produced) <= 5  # bounded: depth + one in hand


def test_producers_in_turn_share_the_consumer_and_stop_together() -> None:
    """A Redis Cluster's masters scanned at once (bans/scanner.py): one item of each in turn, the longer one to its end."""
    assert list(in_turn([prefetched(iter("abc")), prefetched(iter("12345")), prefetched(iter(""))])) == list("a1b2c345")
    before = threading.active_count()
    both = in_turn([prefetched(iter(range(10**9)), depth=2), prefetched(iter(range(10**9)), depth=2)])
    assert [next(both) for _ in range(4)] == [0, 0, 1, 1]
    both.close()
    assert threading.active_count() == before


@given(st.binary(max_size=24) | st.sampled_from(TAGS))
def test_slot_of_is_redis_rule_as_redis_py_computes_it(key: bytes) -> None:
    assert slot_of(key) == key_slot(key)


def test_slot_of_agrees_with_the_cluster_and_slot_masters_with_the_client(redis_cluster) -> None:
    client = redis_cluster.client()
    with redis_cluster.masters()[0].client() as node:
        assert [slot_of(key) for key in TAGS] == [node.execute_command("CLUSTER", "KEYSLOT", key) for key in TAGS]
    names, owners = slot_masters(client)
    assert sorted(names) == sorted(node.name for node in client.get_primaries())
    assert len(owners) == ALL_SLOTS and min(owners) == 0, "every slot served"
    keys = [BanKey(f"198.51.100.{i}").key_in(True).encode() for i in range(200)]
    assert [names[owners[slot_of(key)]] for key in keys] == [client.get_node_from_key(key).name for key in keys]
    client.close()
