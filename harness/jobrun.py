"""Run a job or bwcli file exactly as BunkerWeb does: ``exec_module`` under a non-``__main__`` name."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from harness import ROOT

# What a job may see besides the settings: the test's isolated state dir and core dir, and the basics.
# DATABASE_URI and the stand-in switch: a test in BunkerWeb-cache mode (harness/bwjob.py).
INHERITED = ("PATH", "HOME", "XDG_CACHE_HOME", "LANG", "REDISSYNC_STATE_DIR",
             "REDISSYNC_BW_CORE_DIR", "DATABASE_URI", "REDISSYNC_TEST_JOB_STANDIN",
             "REDISSYNC_TEST_DIE_AT_UPLOAD")


def run_entry(path: Path, env: Mapping[str, str], argv: list[str] | None = None, module_name: str | None = None) -> int:
    """Execute ``path`` in-process with ``env`` (over :data:`INHERITED`) as os.environ.

    Returns its exit code; a module that ends without ``sys.exit`` counts as 1, as in BunkerWeb."""
    saved_env, saved_argv, saved_path = dict(os.environ), sys.argv, list(sys.path)
    inherited = {k: os.environ[k] for k in INHERITED if k in os.environ}
    os.environ.clear()
    os.environ.update({**inherited, **env})
    sys.argv = [str(path), *(argv or [])]
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(module_name or path.stem, path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SystemExit as exit_:
            code = exit_.code
            return code if isinstance(code, int) else 1
        return 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        sys.path[:] = saved_path


def run_job_file(name: str, env: Mapping[str, str]) -> int:
    """``jobs/<name>.py`` as BunkerWeb's scheduler runs it (the module is named after the job)."""
    return run_entry(ROOT / "jobs" / f"{name}.py", env, module_name=name)


def run_bwcli(command_file: str, env: Mapping[str, str], argv: list[str]) -> int:
    """``bwcli/<file>`` as ``bwcli plugin redissync <command>`` runs it (plugin root + bwcli/ on sys.path)."""
    saved = list(sys.path)
    sys.path[:0] = [str(ROOT), str(ROOT / "bwcli")]
    try:
        return run_entry(ROOT / "bwcli" / command_file, env, argv, module_name=f"redissync_{Path(command_file).stem}")
    finally:
        sys.path[:] = saved
