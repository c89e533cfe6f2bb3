"""Bounded bulk reads: SCAN batches without repeats, and the prefetch thread that overlaps round trips."""

from __future__ import annotations

import threading

import pytest

from redissync.keyspace import in_turn, prefetched, scan_batches


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
