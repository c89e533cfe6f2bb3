"""Build dist/redissync.zip and dist/redissync.tar.gz: one top-level ``redissync/`` folder holding what
BunkerWeb needs at run time (no tests, caches or tooling), job and bwcli files executable, plus what the README
links to (docs with the screenshot, licence, changelog, contributing guide) so no link in the archive is broken."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("plugin.json", "redissync.lua", "redissync_clock.lua", "redissync_cluster.lua", "redissync_metrics.lua",
           "jobs", "bwcli", "confs", "ui")
DOCUMENTS = ("README.md", "LICENSE", "CHANGELOG.md", "CONTRIBUTING.md", "COMPATIBILITY.json", "docs")
EXECUTABLE_DIRS = ("jobs", "bwcli")
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
EPOCH = 315532800  # 1980-01-01: reproducible archives


def runtime_files() -> list[Path]:
    files: list[Path] = []
    for entry in (*RUNTIME, *DOCUMENTS):
        path = ROOT / entry
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and not SKIP_PARTS & set(p.parts)
                            and p.suffix not in {".pyc", ".pyo"})
    return files


def mode_for(relative: Path) -> int:
    executable = relative.parts[0] in EXECUTABLE_DIRS and relative.suffix == ".py" and len(relative.parts) == 2
    return 0o755 if executable else 0o644


def build(out_dir: Path = ROOT / "dist") -> tuple[Path, Path]:
    plugin_id = json.loads((ROOT / "plugin.json").read_text())["id"]
    out_dir.mkdir(exist_ok=True)
    zip_path, tar_path = out_dir / f"{plugin_id}.zip", out_dir / f"{plugin_id}.tar.gz"
    files = runtime_files()
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            relative = path.relative_to(ROOT)
            info = zipfile.ZipInfo(f"{plugin_id}/{relative.as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode_for(relative)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    # tarfile's "w:gz" stamps the current time into the gzip header: two builds a second apart would differ
    with tar_path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in files:
            relative = path.relative_to(ROOT)
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{plugin_id}/{relative.as_posix()}")
            info.size, info.mode, info.mtime = len(data), mode_for(relative), EPOCH
            archive.addfile(info, io.BytesIO(data))
    return zip_path, tar_path


if __name__ == "__main__":
    for built in build():
        print(f"built {built.relative_to(ROOT)} ({os.path.getsize(built)} bytes)")
