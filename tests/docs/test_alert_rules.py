"""docs/prometheus/redissync-alerts.yml: valid rules, and promtool's unit tests of each alert green."""

from __future__ import annotations

import re
from pathlib import Path

from harness.promtool import promtool

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "prometheus"
RULES = FOLDER / "redissync-alerts.yml"
TESTS = FOLDER / "redissync-alerts.test.yml"


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_fires_it_and_they_pass() -> None:
    alerts = re.findall(r"^      - alert: (\S+)$", RULES.read_text(), re.MULTILINE)
    fired = set(re.findall(r"alertname: (\S+)\n\s+exp_alerts:\n\s+- exp_labels:", TESTS.read_text()))
    assert len(alerts) >= 6
    assert set(alerts) == fired
    result = promtool("test", "rules", TESTS.name, cwd=FOLDER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
