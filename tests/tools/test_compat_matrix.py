"""The compatibility claim follows BunkerWeb's own pins (tests/data/bunkerweb-pins.json, from each release's tree):
every release COMPATIBILITY.json names is tested with the redis-py and Jinja2 it ships, and its hiredis where the
matrix pins one."""

from __future__ import annotations

import json
from pathlib import Path

from tools.compat_matrix import PINS, UPCOMING, bunkerweb_releases

RECORDED = json.loads((Path(__file__).resolve().parents[1] / "data" / "bunkerweb-pins.json").read_text())["releases"]
UNRECORDED_FINALS = {"1.6.14": "1.6.14-rc1", "1.6.15": "1.6.14-rc1"}  # the changelog: pins unchanged up to 1.6.16


def test_each_claimed_release_is_tested_with_its_own_pins() -> None:
    for pin in PINS:
        for release in pin.bunkerweb:
            recorded = RECORDED[UNRECORDED_FINALS.get(release, release)]["pins"]
            assert pin.redis in recorded["redis"], release
            assert pin.jinja2 in recorded["jinja2"], release
            assert pin.hiredis is None or pin.hiredis in recorded["hiredis"], release  # None: tested without hiredis


def test_1614_and_1615_are_claimed_and_no_unreleased_version_is() -> None:
    claimed = bunkerweb_releases()
    assert claimed[-4:] == ["1.6.12", "1.6.13", "1.6.14", "1.6.15"]
    assert not [release for release in claimed if "rc" in release or "beta" in release or release.startswith(("1.6.16", "1.7"))]
    assert set(UPCOMING) == {"1.6.16 (release candidates)", "1.7 (beta)"}
    assert RECORDED["1.7.0-beta"]["pins"] == RECORDED["1.6.14-rc1"]["pins"] == RECORDED["1.6.13"]["pins"]
