"""Render our confs/http templates for one settings environment, as BunkerWeb's generator would."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.luadata import load
from harness.templator import bunkerweb_context, render_http
from redissync.settings import Settings, load_settings

OPTIONS_FILE = "redissync-options.lua"
SNIPPET_FILE = "redissync.conf"


@dataclass
class Rendered:
    directory: Path  # what BunkerWeb writes to /etc/nginx/http
    settings: Settings
    env: dict[str, str]

    @property
    def options_text(self) -> str:
        return (self.directory / OPTIONS_FILE).read_text()

    @property
    def snippet_text(self) -> str:
        return (self.directory / SNIPPET_FILE).read_text()

    @property
    def options(self) -> dict[str, Any]:
        return load(self.options_text)


def render_case(env: dict[str, str], directory: Path, core_dir: Path | None = None) -> Rendered:
    """Render with ``env``; ``core_dir`` switches on BunkerWeb's core redis plugin (millisecond units).

    The units rule reads REDISSYNC_BW_CORE_DIR from the process (template) and from ``env`` (Python):
    both are pointed at the same place (the autouse fixture of tests/conftest.py restores the process's).
    """
    env = dict(env)
    env["REDISSYNC_BW_CORE_DIR"] = str(core_dir or directory.parent / "no-bunkerweb-core")
    os.environ["REDISSYNC_BW_CORE_DIR"] = env["REDISSYNC_BW_CORE_DIR"]
    core_json = core_dir / "redis" / "plugin.json" if core_dir else None
    render_http(bunkerweb_context(env, core_json), directory)
    return Rendered(directory, load_settings(env), env)
