"""Secrets never leave the process, not even in the DEBUG traceback."""

from __future__ import annotations

import logging

from redissync.logs import debug_traceback, secret_values
from redissync.redaction import MASK, redact


def test_secret_values_are_the_secret_named_settings() -> None:
    env = {"REDIS_PASSWORD": "pw-1234", "SESSIONS_SECRET": "s3cr3t-value", "API_TOKEN": "tok-99", "REDIS_HOST": "redis",
           "REDIS_SENTINEL_PASSWORD": "", "PRIVATE_KEY": "ab"}
    assert set(secret_values(env)) == {"pw-1234", "s3cr3t-value", "tok-99"}  # empty and 2-character values kept
    assert redact("pw-1234 / s3cr3t-value at redis", secret_values(env)) == f"{MASK} / {MASK} at redis"


def test_debug_traceback_only_at_debug(caplog) -> None:
    logger = logging.getLogger("masking-test")
    env = {"REDIS_PASSWORD": "pw-1234"}
    for level in (logging.INFO, logging.DEBUG):
        caplog.clear()
        logger.setLevel(level)
        try:
            raise ValueError("failed with pw-1234")
        except ValueError:
            debug_traceback(logger, "step failed", env)
        if level == logging.INFO:
            assert caplog.records == []
        else:
            (record,) = caplog.records
            assert record.getMessage().startswith("step failed:\nTraceback")
            assert f"ValueError: failed with {MASK}" in record.getMessage()
            assert "pw-1234" not in caplog.text
