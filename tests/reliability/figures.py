"""Figures of the reliability suite: counted by the tests, summed across xdist workers, printed as a table
at the end of the session and written to ``artifacts/reliability.json`` (the README's Reliability table).

Tests call :func:`record`. This module is also the pytest plugin (loaded from tests/conftest.py's
``pytest_plugins``) because xdist's controller, which prints the summary, never loads sub-directory
conftests: workers ship their counters through ``workeroutput`` and the controller adds them up.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
WORKER_KEY = "redissync_reliability_figures"

# (key, label) in table order; keys absent from a run print as "–" (not measured), never as 0.
ROWS: tuple[tuple[str, str], ...] = (
    ("faults_injected", "faults injected (proxy fault switches exercised)"),
    ("fault_runs", "runs under a fault (connection layer + job passes)"),
    ("fault_runs_clear_error", "  … ending in one clear error within the timeout budget"),
    ("heal_runs_ok", "passes after the fault healed that succeeded"),
    ("heal_items_lost", "  … items lost across fault + heal"),
    ("jobs_exercised", "job entry files run under faults"),
    ("failovers_survived", "Sentinel failovers survived"),
    ("bans_written", "bans written by the load generator"),
    ("bans_lost", "bans lost"),
    ("bans_resurrected", "unbans resurrected"),
    ("bans_lost_split_brain", "bans a deposed master acknowledged (SENTINEL FAILOVER, resumed pause), dropped by Redis"),
    ("promotion_to_first_write_ms", "promotion → first acknowledged write on the new master (worst, ms)"),
    ("fuzz_cases", "settings environments fuzzed"),
    ("fuzz_tracebacks", "  … tracebacks other than SettingsError"),
    ("tls_cases", "TLS cases (verify × CA × hostname, standalone + sentinel)"),
    ("tls_refused_as_expected", "  … refused as expected (verify=yes)"),
    ("tls_accepted_as_expected", "  … accepted as expected"),
    ("tls_wrongly_accepted", "  … accepted although they should be refused"),
    ("hostile_cases", "hostile Redis keys seeded (binary names, wrong types, bombs, huge)"),
    ("hostile_runs_survived", "  … job / bwcli runs over them that exited 0"),
    ("acl_entries_run", "jobs and bwcli commands run under the least-privilege ACL"),
    ("acl_commands_proven", "ACL commands and key patterns proven necessary"),
    ("secrets_outputs_grepped", "outputs grepped by the secrets-everywhere suite"),
    ("secret_checks", "outputs grepped for the test passwords"),
    ("secret_hits", "  … secret hits"),
)

_counts: Counter[str] = Counter()


def record(name: str, amount: int = 1) -> None:
    """Add ``amount`` to figure ``name`` (also use 0 to mark a figure as measured)."""
    _counts[name] += amount


def snapshot() -> dict[str, int]:
    return dict(_counts)


def render(figures: dict[str, int]) -> str:
    width = max(len(label) for _, label in ROWS)
    lines = [f"{'Figure':<{width}}  Value", f"{'-' * width}  -----"]
    for key, label in ROWS:
        value = figures.get(key)
        lines.append(f"{label:<{width}}  {'–' if value is None else value}")
    return "\n".join(lines)


def render_markdown(figures: dict[str, int]) -> str:
    lines = ["| Figure | Value |", "|---|---|"]
    for key, label in ROWS:
        value = figures.get(key)
        lines.append(f"| {label.strip()} | {'–' if value is None else value} |")
    return "\n".join(lines)


# -- pytest plugin --------------------------------------------------------------------------------------
def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _is_worker(session.config):
        session.config.workeroutput[WORKER_KEY] = json.dumps(snapshot())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # xdist controller: add up one worker's figures
    payload = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if payload:
        _counts.update(json.loads(payload))


def _suite_name(config: pytest.Config) -> str:
    markexpr = (config.getoption("markexpr", "") or "").replace(" ", "")
    return "reliability" if "slow" in markexpr and "notslow" not in markexpr else "default"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config) or not _counts:
        return
    figures = snapshot()
    suite = _suite_name(config)
    ARTIFACTS.mkdir(exist_ok=True)
    name = "reliability.json" if suite == "reliability" else "reliability-default.json"
    document = {
        "suite": suite,
        "markexpr": config.getoption("markexpr", ""),
        "exitstatus": int(exitstatus),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "figures": figures,
        "table_markdown": render_markdown(figures),
    }
    (ARTIFACTS / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    terminalreporter.section(f"redissync reliability figures ({suite} suite)")
    for line in render(figures).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written to {ARTIFACTS / name}")
