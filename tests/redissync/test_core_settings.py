"""Core settings our jobs honour: validated with their owner's rule, read from Settings.core (never os.environ)."""

from __future__ import annotations

import pytest

from redissync.core_settings import METRICS_MAX_BLOCKED_REQUESTS_REDIS, SESSIONS_ABSOLUTE_TIMEOUT
from redissync.errors import CoreSettingError
from redissync.settings import load_settings


def test_defaults_and_shorthand() -> None:
    assert METRICS_MAX_BLOCKED_REQUESTS_REDIS.read({}) == 10_000
    assert METRICS_MAX_BLOCKED_REQUESTS_REDIS.read({"METRICS_MAX_BLOCKED_REQUESTS_REDIS": "2m"}) == 2_000_000
    assert SESSIONS_ABSOLUTE_TIMEOUT.read({}) == 86_400
    assert SESSIONS_ABSOLUTE_TIMEOUT.read({"SESSIONS_ABSOLUTE_TIMEOUT": " "}) == 86_400  # blank: the owner's default


@pytest.mark.parametrize(("setting", "value"), [(METRICS_MAX_BLOCKED_REQUESTS_REDIS, "10x"), (SESSIONS_ABSOLUTE_TIMEOUT, "1k")])
def test_a_bad_value_names_the_setting_and_its_owner(setting, value) -> None:
    with pytest.raises(CoreSettingError) as caught:
        setting.read({setting.name: value})
    assert f"{setting.name}='{value}' is invalid" in str(caught.value)
    assert f"the {setting.owner} settings" in str(caught.value)


def test_load_settings_hands_the_raw_core_values_down() -> None:
    settings = load_settings({"USE_REDIS": "yes", "REDIS_HOST": "localhost", "SESSIONS_ABSOLUTE_TIMEOUT": "3600", "UNRELATED": "x"})
    assert settings.core_env == {"SESSIONS_ABSOLUTE_TIMEOUT": "3600"}
    assert SESSIONS_ABSOLUTE_TIMEOUT.read(settings.core_env) == 3600
