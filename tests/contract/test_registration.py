"""redissync installs into every BunkerWeb release (1.6.0 to 1.6.14-rc1, 1.7.0-beta, 1.6.16~rc3's core redis)
without breaking it, and its page is shown.

BunkerWeb keeps every plugin's settings in one table (``src/common/db/model.py``, class ``Settings``,
table ``bw_settings``): the setting name is the primary key (``id``) and the html id (plugin.json's
``"id"``, column ``name``) is unique, across all plugins. Its config saver
(``src/common/gen/save_config.py`` → ``Database.init_tables`` in ``src/common/db/Database.py``) inserts
every plugin's settings, so one name or html id that two plugins declare fails the whole save with
``IntegrityError: UNIQUE constraint failed`` and the scheduler never starts. The tests below replay that
rule in SQLite against the names every release declares (``tests/data/bunkerweb-declared.json``: 1.6.0 to 1.6.13, 1.6.14-rc1, 1.7.0-beta;
1.6.16~rc3's core redis plugin.json with REDIS_CLUSTER_NODES) and the official external plugins
(``tests/data/plugin-json/external``).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
PLUGIN = json.loads((ROOT / "plugin.json").read_text())
DECLARED = json.loads((DATA / "bunkerweb-declared.json").read_text())
EXTERNALS = {path.stem: json.loads(path.read_text()) for path in sorted((DATA / "plugin-json" / "external").glob("*.json"))}
DECLARED_PLUGIN_IDS = {owner["plugin"] for owners in DECLARED["settings"].values() for owner in owners}
CORE_PLUGINS = {path.stem: json.loads(path.read_text()) for path in sorted((DATA / "plugin-json" / "core").glob("*.json"))}
REDIS_NAMES = ("USE_REDIS", "REDIS_HOST", "REDIS_PORT", "REDIS_DATABASE", "REDIS_SSL", "REDIS_SSL_VERIFY", "REDIS_TIMEOUT",
               "REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_SENTINEL_HOSTS", "REDIS_SENTINEL_USERNAME",
               "REDIS_SENTINEL_PASSWORD", "REDIS_SENTINEL_MASTER", "REDIS_KEEPALIVE_IDLE", "REDIS_KEEPALIVE_POOL")
# 1.6.16~rc3's core redis plugin.json, verbatim: the fifteen names plus REDIS_CLUSTER_NODES (html id redis-cluster-nodes).
CORE_REDIS_1616 = json.loads((DATA / "plugin-json" / "core-1.6.16-rc3" / "redis.json").read_text())

# The columns and constraints of bw_plugins, bw_settings and bw_jobs that decide whether an insert can clash.
SCHEMA = """
CREATE TABLE bw_plugins (id VARCHAR(64) PRIMARY KEY, name VARCHAR(128) NOT NULL);
CREATE TABLE bw_settings (id VARCHAR(256) PRIMARY KEY, name VARCHAR(256) NOT NULL UNIQUE,
                          plugin_id VARCHAR(64) NOT NULL REFERENCES bw_plugins (id));
CREATE TABLE bw_jobs (name VARCHAR(128) PRIMARY KEY, plugin_id VARCHAR(64) REFERENCES bw_plugins (id));
"""


def release_plugins(release: str) -> dict[str, dict[str, str]]:
    """plugin id → {setting name: html id}, everything the given release declares itself."""
    plugins: dict[str, dict[str, str]] = {}
    for name, owners in DECLARED["settings"].items():
        for owner in owners:
            if release in owner["releases"]:
                plugins.setdefault(owner["plugin"], {})[name] = owner["id"]
    return plugins


def register(plugins: list[tuple[str, str, dict[str, str], list[str]]]) -> None:
    """Insert every (id, name, {setting: html id}, [job names]) as ``Database.init_tables`` does."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA)
        for plugin_id, plugin_name, settings, jobs in plugins:
            db.execute("INSERT INTO bw_plugins (id, name) VALUES (?, ?)", (plugin_id, plugin_name))
            db.executemany("INSERT INTO bw_settings (id, name, plugin_id) VALUES (?, ?, ?)",
                           [(name, html_id, plugin_id) for name, html_id in settings.items()])
            db.executemany("INSERT INTO bw_jobs (name, plugin_id) VALUES (?, ?)", [(job, plugin_id) for job in jobs])
    finally:
        db.close()


def as_row(plugin: dict) -> tuple[str, str, dict[str, str], list[str]]:
    return (plugin["id"], plugin["name"], {name: s["id"] for name, s in plugin["settings"].items()},
            [job["name"] for job in plugin.get("jobs", [])])


def bunkerweb_install(release: str, plugin: dict) -> list[tuple[str, str, dict[str, str], list[str]]]:
    """One release's own plugins (jobs as in the recorded core plugin.json files), the externals, then ``plugin``."""
    rows = [(pid, pid, settings, [job["name"] for job in CORE_PLUGINS.get(pid, {}).get("jobs", [])])
            for pid, settings in release_plugins(release).items()]
    return rows + [as_row(external) for external in EXTERNALS.values()] + [as_row(plugin)]


def test_every_release_is_recorded_with_core_redis_owning_the_fifteen_names() -> None:
    assert DECLARED["releases"][0] == "1.6.0"
    assert DECLARED["releases"][-3:] == ["1.6.13", "1.6.14-rc1", "1.7.0-beta"]
    for release in DECLARED["releases"]:
        assert set(REDIS_NAMES) <= set(release_plugins(release)["redis"]), release


def test_1616_core_redis_adds_the_cluster_nodes_setting_and_registers_with_ours() -> None:
    """1.6.16~rc3: REDIS_CLUSTER_NODES / redis-cluster-nodes (core redis), on top of 1.6.14-rc1's other plugins."""
    core = {name: setting["id"] for name, setting in CORE_REDIS_1616["settings"].items()}
    assert set(core) == {*REDIS_NAMES, "REDIS_CLUSTER_NODES"} and core["REDIS_CLUSTER_NODES"] == "redis-cluster-nodes"
    rows = [(pid, pid, core if pid == "redis" else settings, [job["name"] for job in CORE_PLUGINS.get(pid, {}).get("jobs", [])])
            for pid, settings in release_plugins("1.6.14-rc1").items()]
    register(rows + [as_row(external) for external in EXTERNALS.values()] + [as_row(PLUGIN)])
    assert not {"REDIS_CLUSTER_NODES", "REDISSYNC_CLUSTER_NODES"} & set(PLUGIN["settings"])
    assert "redis-cluster-nodes" not in {s["id"] for s in PLUGIN["settings"].values()}
    clash = {**PLUGIN, "settings": {**PLUGIN["settings"], "REDISSYNC_NODES": {"id": "redis-cluster-nodes"}}}
    with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE constraint failed: bw_settings\.name"):
        register([*rows, as_row(clash)])


@pytest.mark.parametrize("release", DECLARED["releases"])
def test_plugin_json_registers_in_every_release_with_every_official_external(release: str) -> None:
    register(bunkerweb_install(release, PLUGIN))


def test_the_model_fails_like_bunkerweb_on_a_redeclared_core_name() -> None:
    """What redissync's plugin.json did until 1.0.0: declaring REDIS_HOST (under any html id) breaks the save."""
    clash = {**PLUGIN, "settings": {**PLUGIN["settings"], "REDIS_HOST": {"id": "redissync-redis-host"}}}
    with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE constraint failed: bw_settings\.id"):
        register(bunkerweb_install("1.6.13", clash))
    same_html_id = {**PLUGIN, "settings": {**PLUGIN["settings"], "REDISSYNC_HOST": {"id": "redis-host"}}}
    with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE constraint failed: bw_settings\.name"):
        register(bunkerweb_install("1.6.13", same_html_id))


def test_no_setting_name_or_html_id_that_bunkerweb_or_an_official_external_declares() -> None:
    names = set(PLUGIN["settings"])
    html_ids = {s["id"] for s in PLUGIN["settings"].values()}
    assert len(html_ids) == len(names)
    taken_names = set(DECLARED["settings"]) | set(CORE_REDIS_1616["settings"]) | {n for p in EXTERNALS.values() for n in p["settings"]}
    taken_ids = {owner["id"] for owners in DECLARED["settings"].values() for owner in owners}
    taken_ids |= {s["id"] for p in (*EXTERNALS.values(), CORE_REDIS_1616) for s in p["settings"].values()}
    assert not names & taken_names
    assert not html_ids & taken_ids
    assert not set(REDIS_NAMES) & names


def test_own_identity() -> None:
    assert PLUGIN["id"] == "redissync"
    assert PLUGIN["name"] == "Redis sync"
    assert PLUGIN["id"] not in {*DECLARED_PLUGIN_IDS, *EXTERNALS}
    assert all(name == "USE_REDISSYNC" or name.startswith("REDISSYNC_") for name in PLUGIN["settings"])


# --- Page visibility: src/ui/app/routes/plugins.py, custom_plugin_page() and its plugin_used() ------------------


def page_shown(plugin: dict, config: dict[str, str]) -> bool:
    """BunkerWeb's rule: ``USE_<ID>``, else ``USE_<NAME>`` (spaces → ``_``, upper case), default ``no``, globally
    or for one service; and never while ``USE_METRICS`` is ``no`` globally (the per-service metrics check sits
    inside ``if is_metrics_on``, so it can never switch pages back on)."""
    plugin_id = plugin["id"].upper()
    name = plugin["name"].replace(" ", "_").upper()

    def used(prefix: str = "") -> bool:
        return config.get(f"{prefix}USE_{plugin_id}", config.get(f"{prefix}USE_{name}", "no")) != "no"

    metrics_on = config.get("USE_METRICS", "yes") != "no"
    is_used = used() or any(used(f"{service}_") for service in config.get("SERVER_NAME", "").split())
    return metrics_on and is_used


def database_config(plugin: dict, **values: str) -> dict[str, str]:
    """``DB.get_config()``: every registered setting at its default, overridden by what the user set."""
    defaults = {n: s["default"] for p in (*CORE_PLUGINS.values(), plugin) for n, s in p["settings"].items()}
    defaults |= {n: s["default"] for n, s in json.loads((DATA / "bunkerweb-settings.json").read_text()).items()}
    return defaults | values


def test_page_shown_for_every_user_with_redis_on() -> None:
    assert page_shown(PLUGIN, database_config(PLUGIN, USE_REDIS="yes", SERVER_NAME="www.example.com"))


def test_page_shown_when_redis_is_off_so_it_can_say_so() -> None:
    assert page_shown(PLUGIN, database_config(PLUGIN, USE_REDIS="no"))


def test_page_hidden_when_switched_off_or_metrics_off() -> None:
    assert not page_shown(PLUGIN, database_config(PLUGIN, USE_REDIS="yes", USE_REDISSYNC="no"))
    assert not page_shown(PLUGIN, database_config(PLUGIN, USE_REDIS="yes", USE_METRICS="no"))
    config = database_config(PLUGIN, USE_REDIS="yes", USE_METRICS="no", SERVER_NAME="a.example",
                             **{"a.example_USE_METRICS": "yes"})
    assert not page_shown(PLUGIN, config)


def test_without_use_redissync_a_renamed_plugin_would_never_show_its_page() -> None:
    """Why USE_REDISSYNC exists: neither USE_REDISSYNC nor USE_REDIS_SYNC would be set, and the default is no."""
    bare = {**PLUGIN, "settings": {}}
    assert not page_shown(bare, database_config(bare, USE_REDIS="yes"))
