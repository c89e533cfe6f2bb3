"""Where job state lives: BunkerWeb's job cache inside BunkerWeb, a local directory elsewhere.

Inside BunkerWeb the ``jobs`` module (``/usr/share/bunkerweb/utils/jobs.py``) is importable; its ``Job``
writes files under ``/var/cache/bunkerweb/redissync/`` and persists them in BunkerWeb's database, so
state survives a scheduler container being replaced. Elsewhere (tests, ``make demo``, bwcli run by hand)
state goes to ``REDISSYNC_STATE_DIR``, or ``<user cache dir>/redissync``. Every job uses this module.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PLUGIN_ROOT = Path(__file__).resolve().parents[2]
LOGGER = logging.getLogger("redissync")


def atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file + rename: a crash mid-write leaves the old file intact. The name is made
    here, as ``tempfile.mkstemp`` would (exclusive, mode 0600): importing tempfile costs every job's start-up
    ≈ 5 ms (shutil, bz2, lzma)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def default_state_dir(env: Mapping[str, str]) -> Path:
    if env.get("REDISSYNC_STATE_DIR"):
        return Path(env["REDISSYNC_STATE_DIR"])
    cache_home = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "redissync"


class StateStore:
    """Named blobs (reports, journals) for one job; ``directory`` for files a job manages itself."""

    def __init__(self, directory: Path, bunkerweb_job: Any = None):
        self.directory = directory
        self._job = bunkerweb_job

    @property
    def inside_bunkerweb(self) -> bool:
        return self._job is not None

    @property
    def bunkerweb_db(self) -> Any:
        """BunkerWeb's ``Database`` (``Job.db``: instances, …) inside BunkerWeb, else None."""
        return getattr(self._job, "db", None)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        if self._job is not None:
            # Job.cache_file writes the file atomically and upserts it in BunkerWeb's database.
            ok, message = self._job.cache_file(name, data)
            if not ok:
                raise OSError(f"BunkerWeb's job cache refused {name}: {message}")
            return
        atomic_write(self.directory / name, data)

    @property
    def work_directory(self) -> Path:
        """Where a job keeps files rebuilt from its state (the bans journal's SQLite working copy).

        Inside BunkerWeb it is ``/var/tmp/bunkerweb/<plugin>``, outside the cache folder, so the file is not
        swept by ``Job`` (it is not in the database), not uploaded, and not shipped to the instances with
        ``/var/cache/bunkerweb``; a new container simply rebuilds it. Elsewhere, ``work/`` in the state
        directory, apart from the state's own files."""
        if self._job is None:
            return self.directory / "work"
        return self.directory.parents[2] / "tmp" / "bunkerweb" / self.directory.name

    def names(self, prefix: str) -> list[str]:
        """The state's files whose name starts with ``prefix`` (inside BunkerWeb: the job's cached files,
        which ``Job`` restored from the database)."""
        if not self.directory.is_dir():
            return []
        return sorted(path.name for path in self.directory.iterdir() if path.name.startswith(prefix) and path.is_file())

    def delete(self, name: str) -> None:
        """Remove a file, and inside BunkerWeb its database copy too."""
        if self._job is not None:
            ok, message = self._job.del_cache(name)
            if not ok:
                raise OSError(f"BunkerWeb's job cache refused to delete {name}: {message}")
        (self.directory / name).unlink(missing_ok=True)

    def read_json(self, name: str) -> Any:
        data = self.read(name)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            LOGGER.warning("state file %s is not valid JSON, ignoring it", name)
            return None

    def write_json(self, name: str, value: Any) -> None:
        self.write(name, json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def _bunkerweb_job_class() -> Any:
    try:
        module = importlib.import_module("jobs")
    except ImportError:
        return None
    return getattr(module, "Job", None)


def open_state(job_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> StateStore:
    """The state store for a job (``job_file`` = the job's ``__file__``; BunkerWeb keys its cache by it)."""
    env = os.environ if env is None else env
    job_class = None if env.get("REDISSYNC_STATE_DIR") else _bunkerweb_job_class()
    if job_class is not None:
        job_path = Path(job_file) if job_file else PLUGIN_ROOT / "jobs" / "redissync-check.py"
        job = job_class(logging.getLogger("REDISSYNC"), str(job_path))
        directory = Path(getattr(job, "job_path", Path("/var/cache/bunkerweb") / PLUGIN_ROOT.name))
        return StateStore(directory, job)
    return StateStore(default_state_dir(env))
