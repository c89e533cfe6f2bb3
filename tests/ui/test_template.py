"""template.html rendered as BunkerWeb renders it (fresh Jinja env, autoescape) for every state."""

from __future__ import annotations

import html
import json

from markupsafe import escape

from harness.jobrun import run_job_file
from redissync.ui.page import gather
from tests.ui.render import UI_DIR, render, wrap


def test_template_is_in_the_current_format():
    source = (UI_DIR / "template.html").read_text(encoding="utf-8")
    assert not source.startswith('{% extends "base.html" %}')
    assert "http://" not in source
    assert "https://" not in source  # no CDN: BunkerWeb UIs often run offline
    assert "<script src" not in source
    assert "<link" not in source


def test_each_state_renders_its_message(healthy_state, down_state, sentinel_state, nodata_state):
    for built, expected in ((healthy_state, "Redis answers at redis://127.0.0.1:"), (down_state, "REDIS_HOST/REDIS_PORT"),
                            (sentinel_state, "REDIS_SENTINEL_HOSTS"), (nodata_state, "has not cached a report yet")):
        view = gather(env=built.env, bw_instances_utils=built.instances)
        page = render(wrap(view))
        assert html.escape(view["health"]["sentence"], quote=False) in page, built.name
        assert expected in html.unescape(page), built.name
        assert f'data-state="{view["health"]["state"]}"' in page
        for secret in built.secrets:
            assert secret not in page, built.name


def test_healthy_page_has_server_side_sparklines(healthy_state):
    page = render(wrap(gather(env=healthy_state.env, bw_instances_utils=healthy_state.instances)))
    assert page.count('<svg class="rs-spark"') >= 4
    assert "<polyline" in page
    assert 'id="redissync-bans"' in page
    assert "203.0.113." in page


def test_pre_render_failure_and_missing_globals(nodata_state):
    """BunkerWeb's own error wrapper, and a render without the app's globals (no CSRF → no action buttons)."""
    page = render(wrap(None, status="ko"))
    assert "An error occurred while executing the plugin" in page
    bare = render(wrap(gather(env=nodata_state.env)), with_app_globals=False)
    assert "data-redissync-action" not in bare
    assert "<script" not in bare


def test_hostile_report_content_is_escaped(make_redis, tmp_path):
    """A ban reason is attacker-influenced data: written by BunkerWeb, read back by the bans job, escaped here."""
    server = make_redis()
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    server.client().set("bans_ip_198.51.100.7", json.dumps({"reason": hostile, "service": "unknown", "date": 1795670000,
                                                            "ban_scope": "global", "permanent": False}), ex=3600)
    env = {**server.settings_env(), "REDIS_SSL_VERIFY": "no"}
    assert run_job_file("redissync-bans", env) == 0
    page = render(wrap(gather(env={**env, "REDISSYNC_STATE_DIR": str(tmp_path / "state")})))
    assert hostile not in page
    assert "onerror=alert(1)>" not in page
    assert str(escape(hostile)) in page  # Jinja's autoescape (markupsafe) made it text
