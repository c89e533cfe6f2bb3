"""A Jinja environment configured like BunkerWeb's generator (``src/common/gen/Templator.py``).

Same options (FileSystemLoader, trim_blocks, lstrip_blocks, keep_trailing_newline, no autoescape), every
setting a top-level variable (the owner's defaults overlaid by the environment, as the DB config gives
them), and the helpers templates may use: ``all``, ``has_variable``, ``import``, ``random``, ``read_lines``.
"""

from __future__ import annotations

import importlib
import json
import secrets
import string
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from harness import ROOT

CONFS = ROOT / "confs"


def _has_variable(all_vars: Mapping[str, str], variable: str, value: str) -> bool:
    """True if the global value or any ``<service>_VARIABLE`` equals ``value`` (BunkerWeb's helper)."""
    if all_vars.get(variable) == value:
        return True
    return any(key.endswith(f"_{variable}") and val == value for key, val in all_vars.items())


def _random(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def bunkerweb_context(env: Mapping[str, str], core_plugin_json: Path | None = None) -> dict[str, str]:
    """Every setting with the owner's default, overlaid by ``env``: our plugin.json's switches and the REDIS_*
    from core's plugin.json when given (every real BunkerWeb), else from our seed table (standalone)."""
    definitions = {**json.loads((ROOT / "jobs" / "redissync" / "redis_settings.json").read_text()),
                   **json.loads((ROOT / "plugin.json").read_text())["settings"]}
    values = {name: d["default"] for name, d in definitions.items()}
    if core_plugin_json is not None:
        core = json.loads(core_plugin_json.read_text())["settings"]
        values.update({name: d["default"] for name, d in core.items() if name in values})
    values.update(env)
    return values


def render(template: str, variables: Mapping[str, str], confs: Path = CONFS) -> str:
    """Render ``confs/<template>`` as BunkerWeb's generator would."""
    environment = Environment(
        loader=FileSystemLoader(str(confs)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context = dict(variables)
    context.update(
        all=dict(variables),
        has_variable=_has_variable,
        random=_random,
        read_lines=_read_lines,
        is_custom_conf=lambda path: False,
        **{"import": importlib.import_module},
    )
    return environment.get_template(template).render(**context)


def render_http(variables: Mapping[str, str], destination: Path) -> list[Path]:
    """Render every ``confs/http/*`` template into ``destination`` (BunkerWeb's /etc/nginx/http)."""
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted((CONFS / "http").iterdir()):
        target = destination / source.name
        target.write_text(render(f"http/{source.name}", variables))
        written.append(target)
    return written
