"""The shared job skeleton: exit codes and the one actionable log line."""

from __future__ import annotations

import logging

import pytest

from harness.jobrun import run_bwcli, run_job_file
from redissync.cluster_mode import CLUSTER_PASSES_NOT_YET
from redissync.errors import RedisSyncError
from redissync.runner import EXIT_FAILED, EXIT_OK, run_job
from redissync.state import open_state

JOB = "/plugins/redissync/jobs/redissync-test.py"


def test_disabled_is_success_and_says_so(captured_logs) -> None:
    assert run_job(JOB, lambda *a: "never", env={"USE_REDIS": "no"}) == EXIT_OK
    assert "USE_REDIS is not yes" in captured_logs.text


def test_switched_off_with_use_redissync_is_success_and_says_so(captured_logs) -> None:
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "USE_REDISSYNC": "no"}
    assert run_job(JOB, lambda *a: "never", env=env) == EXIT_OK
    assert "USE_REDISSYNC is not yes, nothing to do" in captured_logs.text


def test_bad_settings_fail_with_every_problem_logged(captured_logs) -> None:
    code = run_job(JOB, lambda *a: "never", env={"USE_REDIS": "yes", "REDIS_HOST": "h", "REDIS_PORT": "0",
                                                 "REDIS_DATABASE": "99"})
    assert code == EXIT_FAILED
    errors = [r.getMessage() for r in captured_logs.records if r.levelno == logging.ERROR]
    assert any("REDIS_PORT" in e for e in errors)
    assert any("REDIS_DATABASE" in e for e in errors)


def test_success_logs_summary(plain_redis, captured_logs) -> None:
    def work(settings, client, state, logger):
        client.set("redissync:test", "1")
        state.write_json("x.json", {"ok": 1})
        return "did 1 thing"

    assert run_job(JOB, work, env=plain_redis.settings_env()) == EXIT_OK
    assert "redissync-test: did 1 thing" in captured_logs.text
    assert plain_redis.client().get("redissync:test") == b"1"


def test_redis_down_is_one_actionable_line(plain_redis, captured_logs) -> None:
    env = plain_redis.settings_env(REDIS_TIMEOUT="1000")
    plain_redis.stop()
    assert run_job(JOB, lambda s, c, st, lg: c.ping(), env=env) == EXIT_FAILED
    errors = [r.getMessage() for r in captured_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "REDIS_HOST/REDIS_PORT" in errors[0]


def test_domain_error_and_unexpected_error(plain_redis, captured_logs) -> None:
    def domain(*_):
        raise RedisSyncError("set REDIS_SOMETHING")

    def unexpected(*_):
        raise ValueError("secret-value-in-message")

    env = plain_redis.settings_env()
    assert run_job(JOB, domain, env=env) == EXIT_FAILED
    assert run_job(JOB, unexpected, env=env) == EXIT_FAILED
    assert "set REDIS_SOMETHING" in captured_logs.text
    assert "unexpected ValueError" in captured_logs.text
    assert "secret-value-in-message" not in "\n".join(
        r.getMessage() for r in captured_logs.records if r.levelno >= logging.INFO)


def test_debug_traceback_masks_every_secret(password_redis, caplog) -> None:
    env = password_redis.settings_env(API_TOKEN="Api-Token-7c1d")

    def unexpected(*_):
        raise ValueError(f"{password_redis.password} / Api-Token-7c1d")

    caplog.set_level(logging.DEBUG, logger="REDISSYNC-TEST")
    assert run_job(JOB, unexpected, env=env) == EXIT_FAILED
    debug = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    assert "Traceback" in debug
    assert "ValueError: ******** / ********" in debug
    assert password_redis.password not in caplog.text
    assert "Api-Token-7c1d" not in caplog.text


def test_every_run_leaves_its_own_record(plain_redis, tmp_path) -> None:
    """What the UI shows as the job's status (never BunkerWeb's job-run records); none when disabled."""
    env = plain_redis.settings_env(REDISSYNC_STATE_DIR=str(tmp_path / "own"))
    state = open_state(JOB, env)
    assert run_job(JOB, lambda *a: "did 2 things", env=env) == EXIT_OK
    record = state.read_json("redissync-test-run.json")
    assert record["ok"] is True
    assert record["line"] == "did 2 things"
    assert record["at"].endswith("+00:00")
    plain_redis.stop()
    assert run_job(JOB, lambda s, c, st, lg: c.ping(), env=env) == EXIT_FAILED
    record = state.read_json("redissync-test-run.json")
    assert record["ok"] is False
    assert "REDIS_HOST/REDIS_PORT" in record["line"]
    assert run_job(JOB, lambda *a: "never", env={**env, "USE_REDIS": "no"}) == EXIT_OK
    assert state.read_json("redissync-test-run.json") == record


def test_a_job_pointed_at_a_sentinel_says_so(make_redis, plain_redis, captured_logs) -> None:
    sentinel = make_redis(name="sentinel", sentinel=True, extra=[f"sentinel monitor m 127.0.0.1 {plain_redis.port} 1"])
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(sentinel.port)}
    assert run_job(JOB, lambda s, c, st, lg: c.scan(0), env=env) == EXIT_FAILED
    errors = [r.getMessage() for r in captured_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "does not know SCAN: this is a Sentinel: list it in REDIS_SENTINEL_HOSTS" in errors[0]


@pytest.mark.parametrize("job", ["redissync-bans"])
def test_every_job_refuses_a_cluster_node_before_any_work(job, cluster_node, captured_logs) -> None:
    """On a cluster node a job would see the keys of its own slots only, and the bans pass would take the
    others for unbans: the job refuses with the check's sentence and writes nothing."""
    assert run_job_file(job, cluster_node.settings_env()) == EXIT_FAILED
    errors = [r.getMessage() for r in captured_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert "runs in cluster mode" in errors[0]
    assert "REDIS_CLUSTER_NODES is empty" in errors[0]
    assert cluster_node.client().dbsize() == 0


def test_a_bwcli_command_refuses_a_cluster_node(cluster_node, capsys) -> None:
    assert run_bwcli("sessions.py", cluster_node.settings_env(), ["revoke", "--yes"]) == 1
    assert "runs in cluster mode" in capsys.readouterr().err


def test_in_cluster_mode_a_job_not_ready_for_it_says_so_and_touches_nothing(redis_cluster, captured_logs) -> None:
    """A job that does not work across shards (cluster_mode.CLUSTER_READY) would do half a pass: one clear line, exit 2."""
    client = redis_cluster.client()
    client.set("bans_ip_{192.0.2.1}", '{"reason":"manual"}')
    assert run_job(JOB, lambda *args: "never", env=redis_cluster.settings_env()) == EXIT_FAILED
    errors = [r.getMessage() for r in captured_logs.records if r.levelno == logging.ERROR]
    assert errors == [f"redissync-test failed: {CLUSTER_PASSES_NOT_YET}"]
    assert client.ttl("bans_ip_{192.0.2.1}") == -1, "still there, untouched"
    assert sum(len(master.client().keys()) for master in redis_cluster.masters()) == 1
    client.close()
