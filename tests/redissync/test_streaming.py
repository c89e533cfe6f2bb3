"""Streamed command groups: replies in order whatever the depth, each group with its tag, and no stale reply after
an error or an early stop (the connection is dropped rather than returned with replies unread)."""

from __future__ import annotations

from typing import Any

import pytest
from redis.exceptions import ResponseError

from redissync.streaming import Stream


def _streamed(stream: Stream, groups: list[list[tuple[Any, ...]]]) -> list[tuple[Any, list[Any]]]:
    """Every group sent with its position as tag, then the rest read: what a restore does with its batches."""
    try:
        done = [answer for tag, group in enumerate(groups) for answer in stream.send(group, tag)]
        return done + stream.finish()
    finally:
        stream.abort()  # a no-op once finished


@pytest.mark.compat
@pytest.mark.parametrize("in_flight", [1, 2, 5])
def test_replies_come_back_in_order(plain_redis, in_flight: int) -> None:
    client = plain_redis.client()
    groups = [[("SET", f"k{g}:{i}", f"{g}:{i}") for i in range(g % 4 + 1)] + [("GET", f"k{g}:0")] for g in range(20)]
    done = _streamed(Stream(client, in_flight), groups)
    assert [tag for tag, _ in done] == list(range(20))
    replies = [reply for _, group in done for reply in group]
    expected = [reply for g in range(20) for reply in [True] * (g % 4 + 1) + [f"{g}:0".encode()]]
    assert [True if reply in (b"OK", "OK", True) else reply for reply in replies] == expected
    assert client.get("k19:0") == b"19:0"


@pytest.mark.compat
def test_an_error_reply_raises_and_the_next_command_gets_its_own_reply(plain_redis) -> None:
    client = plain_redis.client()
    client.rpush("a-list", "x")
    groups = [[("SET", "s1", "1")], [("GET", "a-list")], [("SET", "s2", "2")], [("SET", "s3", "3")]]
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        _streamed(Stream(client), groups)
    assert client.get("s1") == b"1"
    assert client.echo("mine") == b"mine"


def test_stopping_early_leaves_no_reply_behind(plain_redis) -> None:
    client = plain_redis.client()
    stream = Stream(client)
    answered = [answer for i in range(10) for answer in stream.send([("ECHO", f"r{i}")], i)]
    assert answered[0] == (0, [b"r0"])
    stream.abort()
    assert client.echo("after") == b"after"
