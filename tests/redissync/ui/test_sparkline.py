"""Server-side sparklines: geometry inside the viewBox, gaps kept, junk values ignored."""

from __future__ import annotations

import math

from redissync.ui.sparkline import HEIGHT, PAD, WIDTH, sparkline


def _points(segment: str) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for pair in segment.split()]


def test_scaled_into_the_view_box():
    line = sparkline([0, 5, 10, 5])
    (segment,) = line.segments
    points = _points(segment)
    assert points[0] == (PAD, HEIGHT - PAD)
    assert points[2][1] == PAD  # 0 at the bottom, the max at the top
    assert all(PAD <= x <= WIDTH - PAD and PAD <= y <= HEIGHT - PAD for x, y in points)
    assert (line.last_x, line.last_y) == points[-1]
    assert line.last == 5
    assert line.points == 4
    assert line.area.startswith("M")
    assert line.area.endswith("Z")


def test_gaps_and_junk_break_the_line():
    line = sparkline([1, None, "x", True, math.nan, 2, 3])
    assert len(line.segments) == 2
    assert line.points == 3
    assert line.minimum == 1
    assert line.maximum == 3


def test_empty_flat_and_single_point():
    assert sparkline([]).empty
    assert sparkline([None]).empty
    assert sparkline([]).segments == ()
    flat = sparkline([7, 7, 7])
    assert len({y for _, y in _points(flat.segments[0])}) == 1
    single = sparkline([4])
    assert single.segments == ("120,3",)
    assert single.area == ""
