"""The diagnosis of a standalone server against real redis-server processes: every step's failure names
the setting to change, warnings never fail a healthy setup, and no secret reaches the report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.acl import FULL_PASSWORD, FULL_USER
from harness.servers import free_port
from redissync.diagnose.run import diagnose
from redissync.reports import STATE_HEALTHY, Report, Step, ui_status
from tests.conftest import REDIS_PASSWORD

WRONG_PASSWORD = "Wrong-Pw-5d2c9e41-never-shown"
STANDALONE_STEPS = ["config", "dns", "tcp", "tls", "auth", "select", "ping", "server"]


def failed_at(env: dict[str, str], step_id: str) -> Step:
    report = diagnose(env)
    assert not report.healthy, report.render_text()
    assert report.failure.id == step_id, report.render_text()
    assert [step.id for step in report.steps][-1] == step_id, "the walk stops at the first failing step"
    return report.failure


def assert_names(step: Step, *settings: str) -> None:
    named = step.to_dict()["settings"]
    for setting in settings:
        assert setting in named, f"{setting} not named in: {step.sentence}"


def assert_secret_free(report: Report, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in report.render_text(), secret
        assert secret not in report.to_json(), secret


@pytest.mark.compat
def test_healthy_plain_server_walks_every_step(plain_redis) -> None:
    plain_redis.client().set("k", "v")
    report = diagnose(plain_redis.settings_env())
    assert report.healthy, report.render_text()
    assert report.state == "warning", report.render_text()
    assert [step.id for step in report.steps] == STANDALONE_STEPS
    assert report.steps[3].status == "skip"
    assert all(step.duration_ms >= 0 for step in report.steps)
    assert set(report.latency_ms) == {"min", "median", "max"}
    assert report.latency_ms["min"] <= report.latency_ms["median"] <= report.latency_ms["max"]
    facts = report.facts
    assert facts["role"] == "master"
    assert facts["version"]
    assert facts["keys"] == 1
    assert facts["persistence"]["rdb"] is False
    assert any("without a password" in warning and "REDIS_PASSWORD" in warning for warning in report.warnings)
    assert any("seconds" in note for note in report.notes), "the units rule applied is always reported"


def test_report_renders_text_json_and_ui_status(plain_redis) -> None:
    report = diagnose(plain_redis.settings_env())
    text = report.render_text()
    assert "✓ configuration" in text
    assert "\033[" not in text
    assert "Result: healthy" in text
    assert "\033[32m✓" in report.render_text(colour=True)
    data = json.loads(report.to_json())
    assert data["state"] == "warning"
    assert data["steps"][0]["id"] == "config"
    assert data["failed_step"] is None
    status = ui_status(data)
    assert status["state"] == "warning"
    assert status["latency_ms"] == report.latency_ms
    assert len(status["steps"]) == 8
    assert ui_status(None)["state"] == "unknown"


def test_disabled_is_healthy_and_says_so() -> None:
    report = diagnose({"USE_REDIS": "no"})
    assert report.healthy
    assert report.state == "disabled"
    assert [step.id for step in report.steps] == ["config"]


def test_invalid_configuration_names_every_bad_setting() -> None:
    step = failed_at({"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "99999", "REDIS_DATABASE": "x"}, "config")
    assert_names(step, "REDIS_PORT", "REDIS_DATABASE")


def test_unknown_host_names_redis_host() -> None:
    step = failed_at({"USE_REDIS": "yes", "REDIS_HOST": "redis.example.invalid"}, "dns")
    assert_names(step, "REDIS_HOST")
    assert "redis.example.invalid" in step.sentence


def test_closed_port_names_redis_port() -> None:
    step = failed_at({"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(free_port())}, "tcp")
    assert_names(step, "REDIS_PORT")
    assert "connection refused" in step.sentence


def test_tls_to_a_plain_port_names_redis_ssl(plain_redis) -> None:
    started = time.monotonic()
    step = failed_at(plain_redis.settings_env(REDIS_SSL="yes", REDIS_TIMEOUT="1000"), "tls")
    assert "REDIS_SSL=yes" in step.sentence
    assert "plain text" in step.sentence
    assert_names(step, "REDIS_SSL")
    assert time.monotonic() - started < 2.5


def test_plain_to_a_tls_port_names_redis_ssl(tls_redis) -> None:
    step = failed_at(tls_redis.settings_env(REDIS_SSL="no", REDIS_TIMEOUT="1000"), "auth")
    assert "REDIS_SSL=no" in step.sentence
    assert "speaks TLS" in step.sentence
    assert_names(step, "REDIS_SSL")


@pytest.mark.compat
def test_tls_verified_reports_protocol_cipher_and_certificate(tls_redis) -> None:
    report = diagnose(tls_redis.settings_env(REDIS_HOST="localhost"))
    assert report.healthy, report.render_text()
    tls = next(step for step in report.steps if step.id == "tls")
    assert tls.details["protocol"].startswith("TLS")
    assert tls.details["cipher"]
    assert tls.details["verified"] is True
    assert "localhost" in tls.details["certificate"]["names"]
    assert tls.details["certificate"]["days_left"] > 14
    assert not any("password" in warning for warning in tls.warnings)


@pytest.mark.compat
def test_wrong_ca_names_ssl_cert_file_and_verify(tls_redis, pki) -> None:
    step = failed_at(tls_redis.settings_env(SSL_CERT_FILE=str(pki.other_ca_path)), "tls")
    assert "signed by an unknown CA" in step.sentence
    assert_names(step, "REDIS_SSL_VERIFY", "SSL_CERT_FILE")
    # the certificate is still described, from a second, unverified handshake
    assert step.details["verified"] is False
    assert step.details["certificate"]["issuer"]


def test_wrong_hostname_names_redis_host(make_redis, pki) -> None:
    server = make_redis(name="wronghost", tls=pki.wrong_host())
    step = failed_at(server.settings_env(), "tls")
    assert "not valid for '127.0.0.1'" in step.sentence
    assert "redis.wrong.example" in step.sentence
    assert_names(step, "REDIS_HOST", "REDIS_SSL_VERIFY")


def test_expired_certificate_names_verify(make_redis, pki) -> None:
    server = make_redis(name="expired", tls=pki.expired())
    step = failed_at(server.settings_env(), "tls")
    assert "expired on" in step.sentence
    assert_names(step, "REDIS_SSL_VERIFY")


def test_verification_off_is_a_warning_that_says_what_would_fail(tls_redis, pki) -> None:
    report = diagnose(tls_redis.settings_env(REDIS_SSL_VERIFY="no", SSL_CERT_FILE=str(pki.other_ca_path)))
    assert report.healthy, report.render_text()
    warning = next(w for w in report.warnings if w.startswith("REDIS_SSL_VERIFY=no"))
    assert "would fail" in warning


def test_certificate_expiring_soon_is_a_warning(make_redis, pki) -> None:
    server = make_redis(name="expiring", tls=pki.expiring(5))
    report = diagnose(server.settings_env())
    assert report.healthy, report.render_text()
    assert any("expires in" in warning for warning in report.warnings)


@pytest.mark.compat
def test_wrong_password_names_redis_password_and_never_shows_it(password_redis) -> None:
    env = password_redis.settings_env(REDIS_PASSWORD=WRONG_PASSWORD)
    report = diagnose(env)
    assert report.failure.id == "auth"
    assert_names(report.failure, "REDIS_PASSWORD")
    assert_secret_free(report, WRONG_PASSWORD, REDIS_PASSWORD)


def test_missing_password_names_redis_password(password_redis) -> None:
    step = failed_at(password_redis.settings_env(REDIS_PASSWORD=""), "auth")
    assert "requires authentication" in step.sentence
    assert_names(step, "REDIS_PASSWORD")


def test_healthy_with_password_shows_no_secret(password_redis) -> None:
    report = diagnose(password_redis.settings_env())
    assert report.healthy
    assert not any("without a password" in warning for warning in report.warnings)
    assert_secret_free(report, REDIS_PASSWORD)


def test_unknown_acl_user_names_redis_username(acl_redis) -> None:
    step = failed_at(acl_redis.settings_env(REDIS_USERNAME="ghost", REDIS_PASSWORD=WRONG_PASSWORD), "auth")
    assert "user 'ghost'" in step.sentence
    assert_names(step, "REDIS_USERNAME")


def test_acl_user_is_healthy(acl_redis) -> None:
    report = diagnose(acl_redis.settings_env(REDIS_USERNAME=FULL_USER, REDIS_PASSWORD=FULL_PASSWORD))
    assert report.healthy, report.render_text()
    assert_secret_free(report, FULL_PASSWORD)


def test_database_out_of_range_names_redis_database(make_redis) -> None:
    server = make_redis(extra=["databases 4"])
    step = failed_at(server.settings_env(REDIS_DATABASE="9"), "select")
    assert "REDIS_DATABASE=9" in step.sentence
    assert "it has 4 (0-3)" in step.sentence
    assert_names(step, "REDIS_DATABASE")


def test_noeviction_with_maxmemory_is_a_warning(make_redis) -> None:
    server = make_redis(extra=["maxmemory 100mb", "maxmemory-policy noeviction"])
    report = diagnose(server.settings_env())
    assert report.healthy
    assert any("noeviction" in warning for warning in report.warnings)


def test_core_owned_milliseconds_rule_is_information_and_a_healthy_install_is_green(password_redis, bunkerweb_core) -> None:
    report = diagnose(password_redis.settings_env(REDIS_TIMEOUT="2000", REDISSYNC_BW_CORE_DIR=str(bunkerweb_core)))
    assert report.state == STATE_HEALTHY
    assert report.warnings == []
    assert any("milliseconds" in note and "REDIS_TIMEOUT=2000 means 2 s" in note for note in report.notes)
    assert "timeout 2000 ms" in report.steps[0].summary


def test_a_silent_server_costs_one_timeout_not_a_hang(plain_redis) -> None:
    plain_redis.pause()
    try:
        started = time.monotonic()
        step = failed_at(plain_redis.settings_env(REDIS_TIMEOUT="300"), "auth")
        elapsed = time.monotonic() - started
    finally:
        plain_redis.resume()
    assert "REDIS_TIMEOUT" in step.sentence
    assert step.duration_ms < 700
    assert elapsed < 1.0


def test_core_milliseconds_rule_quotes_the_value_as_written(plain_redis, tmp_path: Path) -> None:
    """50 under the core (ms) rule is 0.05 s, and so is 50ms: the note and the warning quote the value as written."""
    core = tmp_path / "core" / "redis"
    core.mkdir(parents=True)
    core.joinpath("plugin.json").write_text(json.dumps({"id": "redis", "settings": {"REDIS_TIMEOUT": {"default": "1000"}}}))
    for written in ("50", "50ms"):
        report = diagnose(plain_redis.settings_env(REDIS_TIMEOUT=written, REDISSYNC_BW_CORE_DIR=str(tmp_path / "core")))
        text = report.render_text()
        assert f"REDIS_TIMEOUT={written} means 0.05 s" in text, text
        assert f"REDIS_TIMEOUT={written} is only 50 ms" in text


def test_bunkerweb_1616_suffix_defaults_are_healthy(password_redis, bunkerweb_core_1616) -> None:
    """1.6.16's core redis plugin: REDIS_TIMEOUT=1s, REDIS_KEEPALIVE_IDLE=30s, REDIS_KEEPALIVE_POOL=64 by default."""
    env = password_redis.settings_env(REDISSYNC_BW_CORE_DIR=str(bunkerweb_core_1616))
    for name in ("REDIS_TIMEOUT", "REDIS_KEEPALIVE_IDLE", "REDIS_KEEPALIVE_POOL"):
        env.pop(name, None)
    report = diagnose(env)
    assert report.state == STATE_HEALTHY, report.render_text()
    assert "timeout 1000 ms, pool 64" in report.steps[0].summary


def test_configuration_failure_header_has_no_empty_target() -> None:
    report = diagnose({"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "not-a-port"})
    assert report.failure.id == "config"
    header = report.render_text().splitlines()[0]
    assert header == "redissync check", header
    assert "REDIS_PORT" in report.failure.sentence


def _lone_sentinel(make_redis, plain_redis, password: str = ""):
    return make_redis(name="sentinel", sentinel=True, password=password,
                      extra=[f"sentinel monitor mymaster 127.0.0.1 {plain_redis.port} 1"])


def test_redis_host_at_a_password_protected_sentinel_says_so(make_redis, plain_redis) -> None:
    sentinel = _lone_sentinel(make_redis, plain_redis, password=REDIS_PASSWORD)
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(sentinel.port)}
    step = failed_at(env, "auth")
    assert "this is a Sentinel: list it in REDIS_SENTINEL_HOSTS" in step.sentence, step.sentence
    assert "REDIS_PASSWORD is empty" not in step.sentence
    step = failed_at({**env, "REDIS_PASSWORD": WRONG_PASSWORD}, "auth")
    assert "this is a Sentinel" in step.sentence
    assert WRONG_PASSWORD not in step.sentence


def test_redis_host_at_an_open_sentinel_says_so(make_redis, plain_redis) -> None:
    sentinel = _lone_sentinel(make_redis, plain_redis)
    env = {"USE_REDIS": "yes", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(sentinel.port)}
    assert "this is a Sentinel: list it in REDIS_SENTINEL_HOSTS" in failed_at(env, "select").sentence
    assert "this is a Sentinel" in failed_at({**env, "REDIS_PASSWORD": WRONG_PASSWORD}, "auth").sentence


def test_a_wrong_password_on_a_data_server_is_not_taken_for_a_sentinel(password_redis) -> None:
    step = failed_at(password_redis.settings_env(REDIS_PASSWORD=WRONG_PASSWORD), "auth")
    assert "Sentinel" not in step.sentence
    assert "REDIS_PASSWORD" in step.sentence
    step = failed_at(password_redis.settings_env(REDIS_PASSWORD=""), "auth")
    assert "Sentinel" not in step.sentence
    assert "REDIS_PASSWORD is empty" in step.sentence


def test_a_value_core_accepts_but_redissync_rejects_is_a_configuration_finding(plain_redis) -> None:
    """Core's regexes let REDIS_DATABASE=16 and a scheme in REDIS_HOST through; the diagnosis names them."""
    step = failed_at(plain_redis.settings_env(REDIS_DATABASE="16", REDIS_HOST="redis://127.0.0.1"), "config")
    assert_names(step, "REDIS_DATABASE", "REDIS_HOST")
    assert "0-15" in step.sentence
    assert "without scheme or port" in step.sentence
