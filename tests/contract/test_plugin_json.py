"""plugin.json and the seed table against BunkerWeb's plugin rules: the same schema must accept every real plugin.

Name and html-id clashes with BunkerWeb itself are in test_registration.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")  # a test dependency only: never imported on a job's path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
REAL_PLUGINS = sorted((DATA / "plugin-json").glob("*/*.json"))
PLUGIN = json.loads((ROOT / "plugin.json").read_text())
SEED = json.loads((ROOT / "jobs" / "redissync" / "redis_settings.json").read_text())


def validate(document: dict) -> None:
    schema = json.loads((DATA / "bunkerweb-plugin.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)


def test_real_plugins_are_present() -> None:
    assert len(REAL_PLUGINS) >= 45


@pytest.mark.parametrize("path", REAL_PLUGINS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_schema_accepts_every_real_bunkerweb_plugin(path: Path) -> None:
    validate(json.loads(path.read_text()))


def test_schema_rejects_what_bunkerweb_rejects() -> None:
    broken = [
        {**PLUGIN, "version": "v1"},
        {**PLUGIN, "stream": "maybe"},
        {**PLUGIN, "settings": {"use_redissync": PLUGIN["settings"]["USE_REDISSYNC"]}},
        {**PLUGIN, "settings": {"USE_REDISSYNC": {**PLUGIN["settings"]["USE_REDISSYNC"], "default": 0}}},
        {**PLUGIN, "jobs": [{"name": "x", "file": "x.py", "every": "minute", "reload": "no"}]},
    ]
    for document in broken:
        with pytest.raises(jsonschema.ValidationError):
            validate(document)


def test_our_plugin_json_follows_bunkerweb_rules() -> None:
    validate(PLUGIN)


def test_own_switches_default_to_todays_behaviour() -> None:
    settings = PLUGIN["settings"]
    switches = {name: s for name, s in settings.items() if s["type"] == "check"}
    assert {name: s["default"] for name, s in switches.items()} == {
        "USE_REDISSYNC": "yes", "REDISSYNC_RESTORE_BANS": "yes", "REDISSYNC_UNBAN_CLEARS_BAD_BEHAVIOR": "yes"}
    assert all(s["context"] == "global" and s["regex"] == "^(yes|no)$" for s in switches.values())
    others = {name: s["default"] for name, s in settings.items() if name not in switches}
    assert others == {"REDISSYNC_PROMETHEUS_LISTEN": "",
                      "REDISSYNC_PROMETHEUS_ALLOW_IP": "127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16"}
    assert all(settings[name]["context"] == "global" for name in others)  # the listener is off until asked for


def test_seed_table_has_the_shape_of_plugin_json_settings() -> None:
    """Same schema as a plugin's settings, so the same tools (UI form rules, docs) read it."""
    validate({**PLUGIN, "settings": SEED})
    assert len(SEED) == 16  # the fifteen of every release and REDIS_CLUSTER_NODES (1.6.16)
    assert all(s["context"] == "global" and "multiple" not in s for s in SEED.values())
    assert SEED["REDIS_SENTINEL_HOSTS"]["type"] == "multivalue"
    assert SEED["REDIS_SENTINEL_HOSTS"]["separator"] == " "
    assert {n for n, s in SEED.items() if s["type"] == "password"} == {"REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"}
    assert {n for n, s in SEED.items() if s["type"] == "check"} == {"USE_REDIS", "REDIS_SSL", "REDIS_SSL_VERIFY"}


def test_job_names_do_not_clash_with_bunkerweb() -> None:
    job_names = {j["name"] for p in REAL_PLUGINS for j in json.loads(p.read_text()).get("jobs", [])}
    assert not {j["name"] for j in PLUGIN.get("jobs", [])} & job_names


def test_declared_jobs_and_commands_exist_and_are_executable() -> None:
    for job in PLUGIN.get("jobs", []):
        path = ROOT / "jobs" / job["file"]
        assert path.is_file(), job
        assert job["name"].startswith("redissync-")
    for command, file in PLUGIN.get("bwcli", {}).items():
        assert (ROOT / "bwcli" / file).is_file(), command
    for path in [*(ROOT / "jobs").glob("*.py"), *(ROOT / "bwcli").glob("*.py")]:
        assert os.access(path, os.X_OK), f"{path.relative_to(ROOT)} must be executable (git mode 100755)"
