"""Sizes and durations for people: one style for bwcli, the page and the logs."""

from __future__ import annotations

import pytest

from redissync.human import duration as human_duration
from redissync.human import size


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (12.9, "12 s"), (60, "1 m 0 s"), (250, "4 m 10 s"), (3600, "1 h 0 m"),
    (86399, "23 h 59 m"), (86400 * 3 + 7200 + 5, "3 d 2 h"), (-5, "0 s"),
])
def test_human_duration(seconds, text) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(("size_bytes", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 1024 ** 2, "5.0 MiB"), (3 * 1024 ** 4, "3072.0 GiB"),
])
def test_size(size_bytes, text) -> None:
    assert size(size_bytes) == text
