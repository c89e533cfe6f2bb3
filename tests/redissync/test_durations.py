"""Durations read as BunkerWeb 1.6.16 reads them (duration.lua, its regex ``^\\d+(ms?|[shdwMy])?$``): every suffix,
bare numbers in the owner's unit, and the refused forms, each naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from redissync.durations import BARE_MS, BARE_SECONDS, MAX_MS, parse_ms
from redissync.errors import SettingsError
from redissync.settings import load_settings

# value → (milliseconds inside BunkerWeb, milliseconds outside it): written out, not computed.
READINGS = {
    "1": (1, 1000),
    "1500": (1500, 1_500_000),
    "0030": (30, 30_000),
    "500ms": (500, 500),
    "1s": (1000, 1000),
    "30s": (30_000, 30_000),
    "2m": (120_000, 120_000),
    "1h": (3_600_000, 3_600_000),
    "1d": (86_400_000, 86_400_000),
    "1w": (604_800_000, 604_800_000),
    "1M": (2_592_000_000, 2_592_000_000),
    "1y": (31_536_000_000, 31_536_000_000),
}
# Refused by BunkerWeb's regex and duration.lua alike (one number, one suffix, ASCII digits, case matters).
REFUSED = ["1.5s", "-1", "1h30m", "0.5", "", " 1s", "1s ", "1S", "1sec", "1 s", "s", "ms", "1e3", "+1", "1mss", "٣s", "1H"]


@pytest.mark.parametrize("value", list(READINGS))
def test_every_suffix_and_bare_numbers(value: str) -> None:
    assert (parse_ms(value, BARE_MS), parse_ms(value, BARE_SECONDS)) == READINGS[value]


@pytest.mark.parametrize("value", REFUSED)
def test_refused_forms(value: str) -> None:
    assert parse_ms(value, BARE_MS) is None
    assert parse_ms(value, BARE_SECONDS) is None


def test_ceiling_and_long_inputs_are_refused_fast() -> None:
    assert parse_ms("999999999s", BARE_MS) == MAX_MS
    assert parse_ms("1000000000s", BARE_MS) is None
    assert parse_ms("0" * 10_000 + "1s", BARE_MS) == 1000
    assert parse_ms("9" * 100_000, BARE_MS) is None  # beyond int()'s digit limit: refused, not a ValueError


@pytest.mark.parametrize("value", list(READINGS))
def test_settings_read_durations_like_bunkerweb(value: str, bunkerweb_core_1616: Path, tmp_path: Path) -> None:
    base = {"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_TIMEOUT": value, "REDIS_KEEPALIVE_IDLE": value}
    inside = load_settings({**base, "REDISSYNC_BW_CORE_DIR": str(bunkerweb_core_1616)})
    outside = load_settings({**base, "REDISSYNC_BW_CORE_DIR": str(tmp_path / "none")})
    assert (inside.timeout_ms, inside.keepalive_idle_ms) == (READINGS[value][0],) * 2
    assert (outside.timeout_ms, outside.keepalive_idle_ms) == (READINGS[value][1],) * 2


@pytest.mark.parametrize("value", [*REFUSED, "0", "0s", "000ms", "99999999999y"])
def test_a_refused_timeout_is_a_problem_naming_the_setting(value: str, bunkerweb_core_1616: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_TIMEOUT": value,
                       "REDISSYNC_BW_CORE_DIR": str(bunkerweb_core_1616)})
    assert [problem.setting for problem in caught.value.problems] == ["REDIS_TIMEOUT"]
    assert str(caught.value).startswith(f"REDIS_TIMEOUT={value!r} is invalid: expected ")


def test_keepalive_zero_is_off_in_every_unit(bunkerweb_core_1616: Path) -> None:
    for value in ("0", "0s", "0ms"):
        settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_KEEPALIVE_IDLE": value,
                                  "REDISSYNC_BW_CORE_DIR": str(bunkerweb_core_1616)})
        assert settings.keepalive_idle_ms == 0


def test_bunkerweb_1616_defaults(bunkerweb_core_1616: Path) -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "h", "REDISSYNC_BW_CORE_DIR": str(bunkerweb_core_1616)})
    assert (settings.timeout_ms, settings.keepalive_idle_ms, settings.keepalive_pool) == (1000, 30_000, 64)
