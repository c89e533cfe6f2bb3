"""The rendered Lua options read durations exactly as Settings (and BunkerWeb's duration.lua) do; a value
neither accepts renders an error naming the setting, never a default."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core_redis import CORE_REDIS_1616_JSON, install_core_redis
from harness.luadata import load
from harness.templator import bunkerweb_context, render
from tests.confs.rendering import render_case
from tests.redissync.test_durations import READINGS, REFUSED

BASE = {"USE_REDIS": "yes", "REDIS_HOST": "redis.example"}


@pytest.mark.parametrize("value", list(READINGS))
def test_rendered_durations_inside_and_outside_bunkerweb(value: str, tmp_path: Path) -> None:
    env = {**BASE, "REDIS_TIMEOUT": value, "REDIS_KEEPALIVE_IDLE": value}
    inside = render_case(env, tmp_path / "in", install_core_redis(tmp_path / "core", CORE_REDIS_1616_JSON))
    outside = render_case(env, tmp_path / "out")
    for rendered, expected in ((inside, READINGS[value][0]), (outside, READINGS[value][1])):
        connector = rendered.options["connector"]
        assert {connector[name] for name in ("connect_timeout", "send_timeout", "read_timeout")} == {expected}
        assert connector["keepalive_timeout"] == expected
        assert rendered.options == rendered.expected  # the Python twin agrees


@pytest.mark.parametrize(("name", "value"), [("REDIS_TIMEOUT", "0")] + [
    (name, value) for name in ("REDIS_TIMEOUT", "REDIS_KEEPALIVE_IDLE") for value in (*REFUSED, "99999999999y")])
def test_a_refused_duration_renders_an_error_not_a_default(name: str, value: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    core = install_core_redis(tmp_path / "core", CORE_REDIS_1616_JSON)
    monkeypatch.setenv("REDISSYNC_BW_CORE_DIR", str(core))
    options = load(render("http/redissync-options.lua", bunkerweb_context({**BASE, name: value}, core / "redis" / "plugin.json")))
    assert options["error"].startswith(f"{name}='{value}' is invalid: expected a whole number")
    field = "read_timeout" if name == "REDIS_TIMEOUT" else "keepalive_timeout"
    assert field not in options["connector"]


def test_the_issue_example_two_minutes_is_not_one_second(tmp_path: Path) -> None:
    core = install_core_redis(tmp_path / "core", CORE_REDIS_1616_JSON)
    assert render_case({**BASE, "REDIS_TIMEOUT": "2m"}, tmp_path / "a", core).options["connector"]["read_timeout"] == 120_000
