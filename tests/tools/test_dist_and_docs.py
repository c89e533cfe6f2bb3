"""`make dist` archives and the generated settings tables."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tools import dist, docs

ROOT = Path(__file__).resolve().parents[2]


def test_archives_hold_one_plugin_folder_with_runtime_files_only(tmp_path: Path) -> None:
    zip_path, tar_path = dist.build(tmp_path)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    with tarfile.open(tar_path) as archive:
        tar_names = archive.getnames()
        tar_modes = {m.name: m.mode for m in archive.getmembers()}
    assert sorted(names) == sorted(tar_names)
    assert {n.split("/")[0] for n in names} == {"redissync"}
    assert "redissync/plugin.json" in names
    assert "redissync/jobs/redissync/settings.py" in names
    assert "redissync/jobs/redissync/redis_settings.json" in names
    assert not [n for n in names if "/tests/" in n or "__pycache__" in n or n.endswith(".pyc") or "/bench/" in n or "/harness/" in n]
    plugin = json.loads((ROOT / "plugin.json").read_text())
    for job in plugin.get("jobs", []):
        name = f"redissync/jobs/{job['file']}"
        assert modes[name] & stat.S_IXUSR
        assert tar_modes[name] & stat.S_IXUSR
    assert not modes["redissync/jobs/redissync/settings.py"] & stat.S_IXUSR


MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_every_relative_link_in_the_shipped_docs_resolves_inside_the_archive(tmp_path: Path) -> None:
    zip_path, _ = dist.build(tmp_path)
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        documents = {name: archive.read(name).decode() for name in names if name.endswith(".md")}
    assert "redissync/README.md" in documents
    assert "redissync/LICENSE" in names
    checked, broken = 0, []
    for name, text in documents.items():
        for target in MARKDOWN_LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # absolute URL or an anchor in the same page
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target.split("#")[0]))
            checked += 1
            if resolved not in names:
                broken.append(f"{name} → {target}")
    assert broken == []
    assert checked >= 10  # the README's docs, screenshot, LICENSE: the check did read links


def test_archives_are_reproducible(tmp_path: Path) -> None:
    first = [hashlib.sha256(p.read_bytes()).hexdigest() for p in dist.build(tmp_path / "a")]
    second = [hashlib.sha256(p.read_bytes()).hexdigest() for p in dist.build(tmp_path / "b")]
    assert first == second
    # the comparison above passes by luck when both builds fall in the same second: check the header's time itself
    gzip_header = (tmp_path / "a" / "redissync.tar.gz").read_bytes()[:10]
    assert gzip_header[4:8] == b"\0\0\0\0", f"gzip header stamps a build time: {gzip_header[4:8].hex()}"


def test_readme_tables_put_bunkerweb_first_then_what_redissync_adds() -> None:
    seed = json.loads(docs.SEED_TABLE.read_text())
    table = docs.redis_table(json.loads(docs.CORE_REDIS.read_text()), seed, json.loads(docs.CORE_REDIS_NEXT.read_text()))
    assert len(table.splitlines()) == 2 + len(seed) == 18
    # core's defaults (what a BunkerWeb user gets, then 1.6.16's where they changed), the seed's seconds in the last
    assert "| `REDIS_TIMEOUT` | core `redis` | `1000` ms (1.6.16: `1s`) |" in table
    assert table.splitlines()[8].endswith("| `5` s |")
    assert "| `REDIS_SSL_VERIFY` | core `redis` | `no` |" in table
    assert "| `REDIS_KEEPALIVE_POOL` | core `redis` | `10` (1.6.16: `64`) |" in table
    plugin = json.loads((ROOT / "plugin.json").read_text())
    assert "| `REDISSYNC_RESTORE_BANS` | `yes` | global |" in docs.own_table(plugin)
    result = subprocess.run([sys.executable, "-m", "tools.docs", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_changelog_top_release_is_plugin_json_version() -> None:
    plugin = json.loads((ROOT / "plugin.json").read_text())
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert docs.changelog_problem(changelog, plugin) is None
    released = changelog.replace("## [Unreleased]", "## [Unreleased]\n\n## [9.9.9] - 2099-01-01", 1)
    assert "9.9.9" in docs.changelog_problem(released, plugin)  # a release without plugin.json's version is caught
    assert "Unreleased" in docs.changelog_problem(changelog.replace("## [Unreleased]", ""), plugin)
