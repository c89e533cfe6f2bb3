"""The POST action ``redissync(**kwargs)``: strict validation, and the two actions against the real test bed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redissync.ui.actions import handle, respond, validate
from tests.ui.test_pre_render import load_actions


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, "must be a JSON object"),
        (["check"], "must be a JSON object"),
        ("check", "must be a JSON object"),
        ({}, "'action' is missing"),
        ({"action": 1}, "not a string"),
        ({"action": ""}, "'action' is missing"),
        ({"action": "flushall"}, "unknown action 'flushall': use 'check' or 'reconcile'"),
        ({"action": "check", "force": True}, "unknown field(s) 'force'"),
        ({"action": "<script>" * 50}, "unknown action"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(data, expected, healthy_state):
    answer = handle(data, env=healthy_state.env)
    assert answer["status"] == "ko"
    assert answer["code"] == 400
    assert expected in answer["message"]
    assert len(answer["message"]) < 300  # hostile input is truncated, not echoed whole


class StandInApp:
    """Flask's ``current_app`` as far as we use it: ``response_class(body, status=, mimetype=)``."""

    class response_class:
        def __init__(self, response: str, status: int, mimetype: str):
            self.body, self.status_code, self.mimetype = json.loads(response), status, mimetype


def test_errors_are_real_http_errors_through_bunkerweb():
    """BunkerWeb turns a returned dict into HTTP 200 {"message": "ok", "data": …}; an error must be a Response."""
    actions = load_actions()
    response = actions.redissync(app=StandInApp(), db=None, bw_instances_utils=None, args={}, data={"action": "nope"})
    assert isinstance(response, StandInApp.response_class)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.body["status"] == "ko"
    assert "unknown action 'nope'" in response.body["message"]
    assert respond({"status": "ok", "code": 200}, StandInApp()) == {"status": "ok", "code": 200}
    assert respond({"status": "ko", "code": 400, "message": "m"}) == {"status": "ko", "code": 400, "message": "m"}
    assert validate({"action": "reconcile"}) == "reconcile"


def test_check_now_returns_the_diagnosis(healthy_state, down_state):
    healthy = handle({"action": "check"}, env=healthy_state.env)
    assert healthy["status"] == "ok"
    assert healthy["state"] == "healthy"
    assert healthy["report"]["steps"][-1]["id"] == "server"
    down = handle({"action": "check"}, env=down_state.env)
    assert down["status"] == "ok"
    assert down["state"] == "failed"  # the diagnosis ran: its verdict is the answer
    assert "REDIS_HOST/REDIS_PORT" in down["headline"]
    for answer, built in ((healthy, healthy_state), (down, down_state)):
        assert not any(secret in json.dumps(answer) for secret in built.secrets)


def test_reconcile_now_runs_one_bans_pass(healthy_state):
    answer = handle({"action": "reconcile"}, env=healthy_state.env)
    assert answer["status"] == "ok"
    assert answer["ran"] == "ui"  # outside BunkerWeb the journal is local: the pass runs here
    assert answer["summary"].startswith("Ran in the web UI's process: ")
    assert "bans seen" in answer["summary"]
    assert answer["bans"]["last_pass"]["ok"] is True
    assert answer["bans"]["recent"]
    cached = json.loads(Path(healthy_state.env["REDISSYNC_STATE_DIR"], "bans-summary.json").read_text())
    assert cached["updated_ms"] == answer["bans"]["updated_ms"]


def test_reconcile_with_redis_down_is_a_503_with_the_sentence(down_state):
    answer = handle({"action": "reconcile"}, env=down_state.env)
    assert answer["code"] == 503
    assert "REDIS_HOST/REDIS_PORT" in answer["message"]
    assert down_state.secrets[0] not in answer["message"]


def test_disabled_and_invalid_settings(healthy_state):
    assert handle({"action": "check"}, env={**healthy_state.env, "USE_REDIS": "no"})["code"] == 409
    answer = handle({"action": "check"}, env={**healthy_state.env, "REDIS_PORT": "not-a-port"})
    assert answer["code"] == 422
    assert "REDIS_PORT" in answer["message"]
