"""Host and IP helpers: one IP test for every caller, IPv6 literals bracketed once."""

from __future__ import annotations

import random

from redissync.net import bracketed, host_port, is_ip, normalize_ip


def test_fast_ip_check_agrees_with_ipaddress() -> None:
    """``is_ip`` (inet_pton first) must accept exactly what ``normalize_ip`` (ipaddress) accepts."""
    tricky = ["1.2.3.4", "0.0.0.0", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "256.1.1.1", " 1.2.3.4", "1.2.3.4 ",
              "1.2.3.4\x00", "\u0661.2.3.4", "0x1.2.3.4", "1.2.3.4/32", "::", "::1", "1::", "fe80::1%eth0", "::ffff:1.2.3.4",
              "::ffff:01.2.3.4", "1:2:3:4:5:6:7::", "1::2:3:4:5:6:7", "1:2:3:4:5:6:1.2.3.4", "ABCD::EF", "1:2:3:4:5:6:7:8:9",
              "::1::", ":::", "", "not-an-ip", "2001:db8::1\n", "[::1]", "1.2.3.4%eth0"]
    rng = random.Random(7)
    alphabet = "0123456789abcdef.:%x "
    tricky += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))) for _ in range(3000)]
    tricky += [f"{rng.randint(0, 300)}.{rng.randint(0, 300)}.{rng.randint(0, 300)}.{rng.randint(0, 300)}" for _ in range(1000)]
    for text in tricky:
        assert is_ip(text) == (normalize_ip(text) is not None), text


def test_ipv6_literals_are_bracketed_once() -> None:
    assert bracketed("::1") == "[::1]"
    assert bracketed("[::1]") == "[::1]"
    assert bracketed("redis.example") == "redis.example"
    assert host_port("2001:db8::1", 6379) == "[2001:db8::1]:6379"
    assert host_port("10.0.0.1", "26379") == "10.0.0.1:26379"
