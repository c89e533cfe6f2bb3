"""A duration neither BunkerWeb nor redissync accepts is a configuration finding on the page, naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core_redis import CORE_REDIS_1616_JSON, install_core_redis
from harness.jobrun import run_job_file
from harness.servers import RedisServer
from tests.ui.conftest import Built
from tests.ui.test_pre_render import call_pre_render


@pytest.mark.parametrize("value", ["1h30m", "1.5s"])
def test_the_page_names_a_refused_redis_timeout(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        env = {**server.settings_env(), "REDISSYNC_STATE_DIR": str(tmp_path / "state"),
               "REDISSYNC_BW_CORE_DIR": str(install_core_redis(tmp_path / "core", CORE_REDIS_1616_JSON)), "REDIS_TIMEOUT": value}
        assert run_job_file("redissync-check", env) == 2
        view = call_pre_render(Built("refused", env, None, ()), monkeypatch)
    finally:
        server.stop(hard=True)
    health = view["health"]
    assert health["state"] == "failed"
    assert health["sentence"].startswith(f"REDIS_TIMEOUT='{value}' is invalid: expected ")
    assert "REDIS_TIMEOUT" in health["settings"]
