"""GET /redissync/metrics in a real nginx (redissync.lua + redissync_metrics.lua) against real Redis, fed by
the real job files inside a stand-in BunkerWeb (harness/bwjob.py) whose instance list names this nginx:
the page is the Prometheus text format (promtool-clean), merges the jobs' sections with the instance's own
view, keeps serving when Redis is down, refuses text that is not ours, and carries no secret."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from harness.bans import write_ban
from harness.jobrun import run_job_file
from harness.promtool import check_metrics, samples, value
from harness.servers import free_port
from redissync.figures.exposition import Family, merge, render
from tests.conftest import REDIS_PASSWORD, use_bunkerweb_standin

pytestmark = pytest.mark.nginx
API_TOKEN = "Api-Token-Never-Shown-0b7f"


def scrape(server) -> str:
    """What Prometheus receives: status 200, the text format's content type, a page promtool accepts."""
    with urllib.request.urlopen(server.url + "/redissync/metrics", timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return check_metrics(response.read().decode())


def post(server, path: str, body: bytes) -> int:
    request = urllib.request.Request(server.url + path, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def bunkerweb(tmp_path, monkeypatch):
    return use_bunkerweb_standin(tmp_path, monkeypatch)


def test_the_page_merges_the_jobs_figures_and_survives_redis_going_down(lua_nginx, password_redis, bunkerweb) -> None:
    env = password_redis.settings_env(API_TOKEN=API_TOKEN)
    server, _ = lua_nginx(env)
    own = scrape(server)  # before any job ran: the instance's own view only
    assert value(own, "redissync_redis_up") == 1
    assert 0 < value(own, "redissync_redis_ping_seconds") < 1
    assert value(own, "redissync_job_runs_total", job_name="redissync-bans") is None

    bunkerweb.db.add_instance("127.0.0.1", name="bw-1", port=server.port, server_name="bwapi")
    write_ban(password_redis.client(), "192.0.2.10", ttl=600)
    for job in ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions"):
        assert run_job_file(job, env) == 0
    page = scrape(server)
    for job in ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions"):
        assert value(page, "redissync_job_last_run_success", job_name=job) == 1
    assert page.count("# TYPE redissync_job_last_run_success gauge") == 1  # four sections, one family
    assert value(page, "redissync_bans_journaled") == 1
    assert value(page, "redissync_diagnosis_healthy") == 1
    assert value(page, "redissync_redis_up") == 1
    for text in (own, page):
        assert REDIS_PASSWORD not in text
        assert API_TOKEN not in text

    password_redis.stop()
    started = time.monotonic()
    down = scrape(server)
    assert time.monotonic() - started < 10  # within Prometheus's default scrape timeout
    assert value(down, "redissync_redis_up") == 0
    assert value(down, "redissync_redis_ping_seconds") is None
    assert value(down, "redissync_bans_journaled") == 1  # the jobs' last figures are still served
    assert run_job_file("redissync-check", env) == 2
    assert run_job_file("redissync-bans", env) == 2
    failed = scrape(server)
    assert value(failed, "redissync_diagnosis_healthy") == 0
    assert value(failed, "redissync_diagnosis_step_failed", step="tcp") == 1
    assert value(failed, "redissync_job_last_run_success", job_name="redissync-bans") == 0
    assert value(failed, "redissync_job_failures_total", job_name="redissync-bans") == 1
    assert REDIS_PASSWORD not in server.log_text()


def test_text_that_is_not_ours_is_refused(lua_nginx, plain_redis) -> None:
    server, _ = lua_nginx(plain_redis.settings_env())
    good = (b"# HELP redissync_job_runs_total Runs.\n# TYPE redissync_job_runs_total counter\n"
            b'redissync_job_runs_total{job_name="redissync-bans"} 4\n')
    assert post(server, "/redissync/figures/redissync-bans", good) == 200
    assert post(server, "/redissync/figures/redissync-bans", b"other_metric 1\n") == 400
    assert post(server, "/redissync/figures/redissync-bans", b"redissync_x 1\n<script>\n") == 400
    assert post(server, "/redissync/figures/someone-else", good) == 400
    assert post(server, "/redissync/figures/redissync-bans", b"# HELP redissync_x " + b"x" * 70_000 + b"\n") == 400
    page = scrape(server)
    assert value(page, "redissync_job_runs_total", job_name="redissync-bans") == 4  # the refused ones changed nothing
    assert {name for name, _ in samples(page)} == {"redissync_redis_enabled", "redissync_redis_up", "redissync_redis_ping_seconds",
                                                  "redissync_redis_connect_seconds", "redissync_job_runs_total"}


def test_disabled_redis_measures_nothing(lua_nginx) -> None:
    server, _ = lua_nginx({"USE_REDIS": "no"})
    page = scrape(server)
    assert samples(page) == {("redissync_redis_enabled", frozenset()): 0}


def test_the_prometheus_listener_serves_the_same_page_to_allowed_clients_only(lua_nginx, plain_redis) -> None:
    port = free_port()
    server, _ = lua_nginx(plain_redis.settings_env(REDISSYNC_PROMETHEUS_LISTEN=f"127.0.0.1:{port}"))
    section = b"# HELP redissync_bans_journaled J.\n# TYPE redissync_bans_journaled gauge\nredissync_bans_journaled 7\n"
    assert post(server, "/redissync/figures/redissync-bans", section) == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        page = check_metrics(response.read().decode())
    assert (value(page, "redissync_redis_up"), value(page, "redissync_bans_journaled")) == (1, 7)
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/redissync/figures/redissync-bans", data=b"redissync_x 1\n", timeout=30)
    assert error.value.code == 404  # this port serves the page and nothing else

    closed = free_port()
    lua_nginx(plain_redis.settings_env(REDISSYNC_PROMETHEUS_LISTEN=str(closed), REDISSYNC_PROMETHEUS_ALLOW_IP="10.0.0.0/8"))
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"http://127.0.0.1:{closed}/metrics", timeout=30)
    assert error.value.code == 403


def test_redissync_lua_merges_as_its_python_twin(lua_nginx, plain_redis) -> None:
    """Sections sharing families, in the jobs' order: the page's job part is exactly exposition.merge()."""
    server, _ = lua_nginx(plain_redis.settings_env())
    sections = {}
    for n, job in enumerate(("redissync-check", "redissync-bans", "redissync-metrics")):
        sections[job] = render([
            Family("redissync_job_runs_total", "counter", "Runs.").add(n + 1, job_name=job),
            Family(f"redissync_{job.split('-')[1]}_only", "gauge", f"Only {job}.").add(n, kind='a "quoted" \\ kind'),
            Family("redissync_job_last_run_success", "gauge", "Success.").add(1, job_name=job),
        ])
    for job in ("redissync-metrics", "redissync-check", "redissync-bans"):  # arrival order does not matter
        assert post(server, f"/redissync/figures/{job}", sections[job].encode()) == 200
    page = scrape(server)
    own, _, jobs = page.partition("# HELP redissync_job_runs_total")
    assert own.startswith("# HELP redissync_redis_enabled")
    assert "# HELP redissync_job_runs_total" + jobs == merge(sections)
