"""The page in Redis Cluster mode: the shards the check job cached (slots, master, replicas, keys, state)."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pytest

from harness.jobrun import run_job_file
from redissync.ui.actions import handle
from redissync.ui.page import gather
from redissync.ui.shards import shards
from tests.ui.browser import CHROMIUM, dump_dom, screenshot
from tests.ui.render import render, standalone, wrap


def test_the_page_shows_every_shard_the_check_job_cached(redis_cluster, tmp_path: Path) -> None:
    client = redis_cluster.client()
    for i in range(120):
        client.set(f"bans_ip_{{198.51.100.{i}}}", "{}", ex=3600)
    client.close()
    env = redis_cluster.settings_env(REDISSYNC_STATE_DIR=str(tmp_path / "state"))
    assert run_job_file("redissync-check", env) == 0
    view = gather(env=env)
    section = view["shards"]
    assert section["state"] == "ok", section
    assert section["cluster_ok"]
    assert not section["degraded"]
    keys = {master.port: master.client().dbsize() for master in redis_cluster.masters()}
    assert sorted((row["master"], row["key_count"]) for row in section["shards"]) == sorted(
        (f"127.0.0.1:{port}", str(count)) for port, count in keys.items())
    assert all(len(row["replicas"]) == 1 for row in section["shards"])
    assert view["topology"]["state"] == "na"
    page = html.unescape(render(wrap(view)))
    assert "Redis Cluster" in page
    assert dict(view["connection"]["rows"])["Mode"] == "Redis Cluster"
    for row in section["shards"]:
        assert row["master"] in page
        assert row["slots"] in page
        assert f'<td class="rs-num">{row["key_count"]}</td>' in page


def test_without_a_report_or_outside_cluster_mode() -> None:
    assert shards(None, {"mode": "standalone"})["state"] == "na"
    assert shards({"mode": "cluster", "steps": []}, {"mode": "cluster"})["state"] != "ok"


def test_reconcile_now_runs_the_bans_pass_across_the_masters(redis_cluster, tmp_path: Path) -> None:
    client = redis_cluster.client()
    for i in range(30):
        client.set(f"bans_ip_{{192.0.2.{i}}}", '{"reason":"manual","service":"unknown","date":1,"country":"local",'
                   '"ban_scope":"global","reason_data":{},"permanent":true}')
    client.close()
    env = redis_cluster.settings_env(REDISSYNC_STATE_DIR=str(tmp_path / "state"))
    answer = handle({"action": "reconcile"}, env=env)
    assert (answer["status"], answer["ran"]) == ("ok", "ui"), answer
    assert "30 bans seen" in answer["summary"] and answer["bans"]["last_pass"]["new"] == 30
    assert handle({"action": "check"}, env=env)["state"] in ("healthy", "warning")


DOCS_CLUSTER_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "ui-cluster.png"


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package 'chromium')")
def test_the_shards_are_laid_out_in_a_real_browser(redis_cluster, tmp_path: Path) -> None:
    """The cluster section as Chromium lays it out: every master and its slot ranges visible. With
    REDISSYNC_DOCS_SCREENSHOT=1 it also refreshes docs/ui-cluster.png (light theme, < 200 KB)."""
    client = redis_cluster.client()
    for i in range(500):
        client.set(f"bans_ip_{{203.0.113.{i % 250}}}" if i < 250 else f"sessions_:bw:{i}", "{}", ex=3600)
    client.close()
    env = redis_cluster.settings_env(REDISSYNC_STATE_DIR=str(tmp_path / "state"))
    assert run_job_file("redissync-check", env) == 0
    view = gather(env=env)
    page = tmp_path / "cluster.html"
    page.write_text(standalone(render(wrap(view)), theme="light", title="redissync — cluster"), encoding="utf-8")
    dom = html.unescape(dump_dom(page))
    assert 'aria-label="Redis Cluster shards"' in dom
    for row in view["shards"]["shards"]:
        assert row["master"] in dom
    if os.environ.get("REDISSYNC_DOCS_SCREENSHOT"):
        screenshot(page, DOCS_CLUSTER_SCREENSHOT, 1024, 1000)
        assert DOCS_CLUSTER_SCREENSHOT.stat().st_size < 200_000
