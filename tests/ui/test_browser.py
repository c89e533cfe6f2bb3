"""The rendered page in a real headless Chromium: screenshots (artifacts/ui/) and assertions on the DOM.

Each state is rendered as BunkerWeb renders template.html, wrapped in a tiny page carrying BunkerWeb's
theme class, opened from a file:// URL. A test-only probe script records what the browser laid out
(the banner sentence's box, the card colours, horizontal overflow) in the DOM that ``--dump-dom`` returns.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from redissync.ui.page import gather
from tests.ui.browser import ARTIFACTS, CHROMIUM, dump_dom, screenshot
from tests.ui.render import render, standalone, wrap
from tests.ui.test_bunkerweb_ui import open_ui

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package 'chromium'; make deps installs it)"),
]
DESKTOP = (1280, 1900)
NARROW = (390, 3400)


def _page(built, theme: str, directory: Path, probe: bool = True) -> tuple[Path, dict]:
    view = gather(env=built.env, bw_instances_utils=built.instances)
    path = directory / f"{built.name}-{theme}.html"
    path.write_text(standalone(render(wrap(view)), theme=theme, title=f"redissync — {built.name}", probe=probe), encoding="utf-8")
    return path, view


def _probe(dom: str) -> dict:
    match = re.search(r'<pre id="redissync-probe" hidden="">(.*?)</pre>', dom, re.DOTALL)
    assert match, "the probe script did not run"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def _check_dom(dom: str, view: dict, secrets: tuple[str, ...]) -> dict:
    for secret in secrets:
        assert secret not in dom
    probe = _probe(dom)
    assert probe["banner"]["visible"]
    assert probe["scripts"] == []  # nothing loaded from anywhere
    if view["health"]["sentence"]:
        assert probe["sentence"]["visible"]
        assert probe["sentence"]["text"] == view["health"]["sentence"]
        assert probe["sentence"]["top"] < 400  # near the top: the first thing read
    return probe


@pytest.mark.parametrize("state", ["healthy", "down", "recovered", "sentinel", "nodata"])
def test_states_in_light_and_dark(state, request, tmp_path):
    built = request.getfixturevalue(f"{state}_state")
    backgrounds = {}
    for theme in ("light", "dark"):
        path, view = _page(built, theme, tmp_path)
        probe = _check_dom(dump_dom(path, *DESKTOP), view, built.secrets)
        assert probe["overflowX"] <= 0
        backgrounds[theme] = probe["cardBackground"]
        if state in ("healthy", "down", "recovered"):
            assert probe["sparklines"] >= 3
        if state == "recovered":
            assert probe["title"]["text"].startswith("Healthy")
            assert all(row["green"] for row in probe["jobs"])
        if state != "down":
            assert probe["stale"] == [], "nothing is stale while Redis answers"
        else:
            _assert_outage(probe, view)
        screenshot(path, ARTIFACTS / f"{state}-{theme}.png", *DESKTOP)
    assert backgrounds["light"] == "rgb(255, 255, 255)"
    assert backgrounds["dark"] != backgrounds["light"]
    if state == "down":
        sentence = view["health"]["sentence"]
        assert "REDIS_HOST/REDIS_PORT" in sentence


def _assert_outage(probe: dict, view: dict) -> None:
    """Red, "unreachable since", and every card from before the failure dashed, labelled with its age, no green."""
    assert probe["title"]["visible"]
    assert probe["title"]["text"].startswith("Redis unreachable since ")
    red = re.fullmatch(r"rgb\((\d+), (\d+), (\d+)\)", probe["bannerBackground"]).groups()
    assert int(red[0]) > int(red[1]), f"the banner is not red: {probe['bannerBackground']}"
    assert int(red[0]) > int(red[2]), f"the banner is not red: {probe['bannerBackground']}"
    assert {card["label"] for card in probe["stale"]} == {"Keyspace", "Trends", "Bans", "Sessions"}
    for card in probe["stale"]:
        assert card["note"]["visible"]
        assert re.fullmatch(r"stale: from \d+ (s|min) ago, before the failure", card["note"]["text"])
        assert card["border"] == "dashed", card
        assert not card["green"], card
    assert len(probe["jobs"]) == 4, probe["jobs"]
    assert not any(row["green"] for row in probe["jobs"]), probe["jobs"]
    assert sum("ok before the failure" in row["text"] for row in probe["jobs"]) == 2


@pytest.mark.parametrize("state", ["healthy", "down", "unavailable"])
def test_bunkerweb_17(state, request, tmp_path, monkeypatch):
    """BunkerWeb 1.7 hands the page db=None: read through its API client, healthy, during an outage, and with
    bw-api not answering (amber, and never "Redis is off")."""
    built = request.getfixturevalue("down_state" if state == "down" else "healthy_state")
    ui = open_ui("1.7", built, tmp_path, monkeypatch)
    if state == "unavailable":
        ui.fail("down")
    view = ui.pre_render()
    path = tmp_path / f"bunkerweb-1.7-{state}.html"
    path.write_text(standalone(render(wrap(view)), title=f"redissync — 1.7 {state}", probe=True), encoding="utf-8")
    dom = dump_dom(path, *DESKTOP)
    probe = _check_dom(dom, view, built.secrets)
    assert "read from BunkerWeb's API" in dom
    if state == "healthy":
        assert probe["title"]["text"] == "Healthy"
        assert probe["sparklines"] >= 3
        assert all(row["green"] for row in probe["jobs"])
    elif state == "down":
        _assert_outage(probe, view)
    else:
        assert probe["title"]["text"] == "BunkerWeb's API did not answer"
        _, green, blue = map(int, re.fullmatch(r"rgb\((\d+), (\d+), (\d+)\)", probe["bannerBackground"]).groups())
        assert green - blue > 15, f"the banner is not amber: {probe['bannerBackground']}"
        assert "Redis is off" not in dom
        assert dom.count("Not available: BunkerWeb's API did not answer.") == 8  # every card says why it is empty
        assert probe["jobs"] == []
    screenshot(path, ARTIFACTS / f"bunkerweb-1.7-{state}.png", *DESKTOP)


@pytest.mark.parametrize("state", ["down", "sentinel"])
def test_narrow_screen(state, request, tmp_path):
    built = request.getfixturevalue(f"{state}_state")
    path, view = _page(built, "light", tmp_path)
    probe = _check_dom(dump_dom(path, *NARROW), view, built.secrets)
    assert probe["overflowX"] <= 0, "the page scrolls sideways on a phone"
    screenshot(path, ARTIFACTS / f"{state}-narrow.png", *NARROW)


def test_prefers_color_scheme_without_bunkerweb_class(healthy_state, tmp_path):
    """No theme class on <html>: the page follows the system's dark preference."""
    path, _ = _page(healthy_state, "auto", tmp_path)
    dark = _probe(dump_dom(path, *DESKTOP, extra=("--force-dark-mode",)))
    light = _probe(dump_dom(path, *DESKTOP))
    assert light["cardBackground"] == "rgb(255, 255, 255)"
    assert dark["cardBackground"] != light["cardBackground"]


DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "ui-screenshot.png"


@pytest.mark.skipif(not os.environ.get("REDISSYNC_DOCS_SCREENSHOT"),
                    reason="set REDISSYNC_DOCS_SCREENSHOT=1 to refresh docs/ui-screenshot.png")
def test_refresh_docs_screenshot(sentinel_state, tmp_path):
    """The README's picture: the Sentinel setup with one sentinel stopped, light theme, < 200 KB."""
    path, _ = _page(sentinel_state, "light", tmp_path, probe=False)
    screenshot(path, DOCS_SCREENSHOT, 1024, 1360)
    assert DOCS_SCREENSHOT.stat().st_size < 200_000
