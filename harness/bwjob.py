"""A stand-in of BunkerWeb's ``Job`` class (``src/common/utils/jobs.py``) and of the part of its
``Database`` that ``Job`` and redissync use, keeping the "database" in a test folder.

Why: inside BunkerWeb the database copy of a plugin's cache, not the local file, is what the next job run
starts from. Tests that keep state in a plain directory cannot see a bug where a pass changed state it
did not cache (issue 16). Installed as the module ``jobs`` (:func:`install`), it gives redissync's
``state.open_state`` the same semantics the real scheduler gives it.

What it reproduces, from BunkerWeb 1.6's ``src/common/utils/jobs.py`` (docs/bunkerweb-data.md §jobs):

* ``Job(logger, job_path=None, db=None, *, deprecated=False)``: plugin id = ``Path(job_path).parent.parent
  .name``, job name = the file's stem, cache folder ``/var/cache/bunkerweb/<plugin id>`` (here
  ``<folder>/var/cache/bunkerweb/<plugin id>``), created at once; ``db`` defaults to
  ``Database(logger, sqlalchemy_string=getenv("DATABASE_URI"))``.
* ``__init__``: unless ``deprecated``, ``db.get_metadata()``; when ``scheduler_first_start`` is false,
  ``self.restore_cache(manual=False)``: that is, on **every** construction once the scheduler's first
  start is over.
* ``restore_cache``: ``db.get_jobs_cache_files(plugin_id=...)``; every row of *this* job is written back
  over the local file (``_write_atomic``); then (``manual=False``) local files under the plugin's cache
  folder that no row of the plugin names are deleted (docs/bunkerweb-data.md §jobs; observed running
  1.6.13). (jobs.py skips the folders it has just restored into, ``ignored_dirs``, which in some releases
  spares a stray local file; the stand-in always deletes it, the stricter of the two, so a test never
  passes because a file happened to survive.)
* ``cache_file(name, bytes | str | Path, *, job_name, service_id, checksum, delete_file, overwrite_file)``:
  the local file written atomically, then ``db.upsert_job_cache(...)``; returns ``(ok, message)``.
* ``get_cache`` (local file first, then the database), ``is_cached_file``, ``cache_hash``, ``del_cache``.

The "database" is one SQLite file (``DATABASE_URI = sqlite:///<folder>/db.sqlite3``), so a job run in a
child process (``harness/jobproc.py``) shares it. ``get_instances()`` lists the rows of its
``instances`` table: none unless a test adds some (:meth:`StandInDatabase.add_instance`).

Fault injection, for crash tests: ``REDISSYNC_TEST_DIE_AT_UPLOAD=<text>`` kills the process (SIGKILL)
when ``cache_file`` is called for a name containing ``<text>``, before the upload; with a ``:half`` suffix
the database first receives half the bytes (a torn upload), then the process dies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness import ROOT

STANDIN_ENV = "REDISSYNC_TEST_JOB_STANDIN"  # set: harness/jobproc.py installs this module as ``jobs``
DIE_AT_UPLOAD_ENV = "REDISSYNC_TEST_DIE_AT_UPLOAD"
URI_PREFIX = "sqlite:///"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metadata (id INTEGER PRIMARY KEY CHECK (id = 1), scheduler_first_start INTEGER NOT NULL,
                                     bytes_written INTEGER NOT NULL DEFAULT 0, uploads INTEGER NOT NULL DEFAULT 0);
INSERT OR IGNORE INTO metadata (id, scheduler_first_start) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS bw_jobs_cache (plugin_id TEXT NOT NULL, job_name TEXT NOT NULL, service_id TEXT NOT NULL,
                                          file_name TEXT NOT NULL, data BLOB NOT NULL, checksum TEXT,
                                          last_update REAL NOT NULL, PRIMARY KEY (job_name, service_id, file_name));
CREATE TABLE IF NOT EXISTS bw_instances (hostname TEXT PRIMARY KEY, details TEXT NOT NULL);
"""




def plugin_id_of(job_file: Path) -> str:
    """BunkerWeb's plugin id is the plugin's folder name; this repository is installed as ``redissync``
    whatever its checkout is called."""
    folder = job_file.resolve().parent.parent
    return "redissync" if folder == ROOT else folder.name


def plugin_of(job_name: str) -> str:
    """The plugin a job belongs to (BunkerWeb knows it from plugin.json's jobs; ours all start so)."""
    return "redissync" if job_name.startswith("redissync") else job_name


class StandInDatabase:
    """The calls ``Job`` and redissync make on BunkerWeb's ``Database``, over a SQLite file."""

    def __init__(self, logger: logging.Logger | None = None, sqlalchemy_string: str | None = None):
        if not sqlalchemy_string or not sqlalchemy_string.startswith(URI_PREFIX):
            raise ValueError("the Job stand-in needs DATABASE_URI=sqlite:///<test folder>/db.sqlite3")
        self.logger = logger or logging.getLogger("DATABASE")
        self.path = Path(sqlalchemy_string[len(URI_PREFIX):])
        self.folder = self.path.parent
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    # metadata --------------------------------------------------------------------------------------
    def get_metadata(self) -> dict[str, Any]:
        with self._connect() as db:
            first, written, uploads = db.execute("SELECT scheduler_first_start, bytes_written, uploads FROM metadata").fetchone()
        return {"scheduler_first_start": bool(first), "bytes_written": written, "uploads": uploads}

    def set_scheduler_first_start(self, value: bool) -> None:
        with self._connect() as db:
            db.execute("UPDATE metadata SET scheduler_first_start = ?", (int(value),))

    # job cache -------------------------------------------------------------------------------------
    def get_jobs_cache_files(self, *, job_name: str = "", plugin_id: str = "", with_data: bool = True) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT plugin_id, job_name, service_id, file_name, data, checksum, last_update FROM bw_jobs_cache "
                              "WHERE (? = '' OR plugin_id = ?) AND (? = '' OR job_name = ?) ORDER BY file_name",
                              (plugin_id, plugin_id, job_name, job_name)).fetchall()
        return [{"plugin_id": plugin, "job_name": job, "service_id": service or None, "file_name": name,
                 **({"data": data} if with_data else {}), "checksum": checksum, "last_update": updated}
                for plugin, job, service, name, data, checksum, updated in rows]

    def get_job_cache_file(self, job_name: str, file_name: str, *, service_id: str = "", plugin_id: str = "",
                           with_info: bool = False, with_data: bool = True) -> Any:
        with self._connect() as db:
            row = db.execute("SELECT data, checksum, last_update FROM bw_jobs_cache WHERE job_name = ? AND service_id = ? "
                             "AND file_name = ?", (job_name, service_id or "", file_name)).fetchone()
        if row is None:
            return None
        if with_data and not with_info:
            return row[0]
        info = {"checksum": row[1], "last_update": row[2]} if with_info else {}
        return {**info, **({"data": row[0]} if with_data else {})}

    def upsert_job_cache(self, service_id: str | None, file_name: str, data: bytes, *, job_name: str, checksum: str | None = None) -> str:
        """'' on success, an error text otherwise (as BunkerWeb's Database)."""
        with self._connect() as db:
            db.execute("INSERT INTO bw_jobs_cache VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_name, service_id, file_name) "
                       "DO UPDATE SET data = excluded.data, checksum = excluded.checksum, last_update = excluded.last_update",
                       (plugin_of(job_name), job_name, service_id or "", file_name, data, checksum, time.time()))
            db.execute("UPDATE metadata SET bytes_written = bytes_written + ?, uploads = uploads + 1", (len(data),))
        return ""

    def delete_job_cache(self, file_name: str, *, job_name: str, service_id: str | None = None) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM bw_jobs_cache WHERE job_name = ? AND service_id = ? AND file_name = ?",
                       (job_name, service_id or "", file_name))

    # instances -------------------------------------------------------------------------------------
    def get_instances(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """BunkerWeb's instance rows (hostname, name, port, server_name, …); none unless a test adds some."""
        with self._connect() as db:
            return [json.loads(details) for (details,) in db.execute("SELECT details FROM bw_instances ORDER BY hostname")]

    def add_instance(self, hostname: str, **fields: Any) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO bw_instances VALUES (?, ?)", (hostname, json.dumps({"hostname": hostname, **fields})))


Database = StandInDatabase  # ``from Database import Database`` in BunkerWeb


LOCK = threading.Lock()  # jobs.py's module-level LOCK: one restore sweep at a time in a process


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, target)


def _die_at_upload(name: str, content: bytes, db: StandInDatabase, job_name: str, service_id: str) -> None:
    rule = os.environ.get(DIE_AT_UPLOAD_ENV, "")
    text, _, mode = rule.partition(":")
    if not text or text not in name:
        return
    if mode == "half":
        db.upsert_job_cache(service_id, name, content[: len(content) // 2], job_name=job_name)
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Job:
    """``jobs.Job`` as redissync uses it (see the module docstring for the lines it mirrors)."""

    def __init__(self, logger: logging.Logger, job_path: str | Path | None = None, db: Any = None, *, deprecated: bool = False):
        if not job_path:
            raise ValueError("pass the job's __file__ (docs/bunkerweb-data.md §jobs: the no-path branch of jobs.py is broken)")
        job_path = Path(job_path)
        self.job_name = job_path.stem
        self.db = db or Database(logger, sqlalchemy_string=os.getenv("DATABASE_URI"))
        self.job_path = self.db.folder / "var" / "cache" / "bunkerweb" / plugin_id_of(job_path)
        self.job_path.mkdir(parents=True, exist_ok=True)
        self.logger = logger or self.db.logger
        self.restore_ok = True
        if not deprecated and not self.db.get_metadata()["scheduler_first_start"]:
            self.restore_ok = self.restore_cache(manual=False)

    def restore_cache(self, *, job_name: str = "", plugin_id: str = "", manual: bool = True) -> bool:
        with LOCK:
            return self._restore(job_name or self.job_name, plugin_id or self.job_path.name, manual)

    def _restore(self, job_name: str, plugin_id: str, manual: bool) -> bool:
        rows = self.db.get_jobs_cache_files(plugin_id=plugin_id)
        known = set()
        for row in rows:
            cache_path = self.job_path.joinpath(row["service_id"] or "", row["file_name"])
            known.add(cache_path)
            if row["job_name"] == job_name:
                _write_atomic(cache_path, row["data"])
        if not manual:
            for path in sorted(self.job_path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_file() and path not in known:
                    path.unlink(missing_ok=True)
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        return True

    def get_cache(self, name: str, *, job_name: str = "", service_id: str = "", plugin_id: str = "",
                  with_info: bool = False, with_data: bool = True) -> Any:
        cache_path = self.job_path.joinpath(service_id, name)
        if cache_path.is_file() and with_data and not with_info:
            return cache_path.read_bytes()
        return self.db.get_job_cache_file(job_name or self.job_name, name, service_id=service_id,
                                          plugin_id=plugin_id or self.job_path.name, with_info=with_info, with_data=with_data)

    def is_cached_file(self, name: str, expire: str, *, job_name: str = "", service_id: str = "", plugin_id: str = "") -> bool:
        info = self.get_cache(name, job_name=job_name, service_id=service_id, plugin_id=plugin_id, with_info=True, with_data=False)
        limits = {"hour": 3600, "day": 86400, "week": 604800, "month": 2592000}
        return isinstance(info, dict) and 0 <= time.time() - info["last_update"] < limits[expire]

    def cache_file(self, name: str, file_cache: bytes | str | Path, *, job_name: str = "", service_id: str = "",
                   checksum: str | None = None, delete_file: bool = True, overwrite_file: bool = True) -> tuple[bool, str]:
        cache_path = self.job_path.joinpath(service_id, name)
        if isinstance(file_cache, bytes):
            content = file_cache
        else:
            file_cache = Path(file_cache)
            content = file_cache.read_bytes()
        if overwrite_file or not cache_path.is_file():
            _write_atomic(cache_path, content)
        _die_at_upload(name, content, self.db, job_name or self.job_name, service_id)
        error = self.db.upsert_job_cache(service_id, name, content, job_name=job_name or self.job_name,
                                         checksum=checksum or hashlib.sha512(content).hexdigest())
        if error:
            return False, error
        if isinstance(file_cache, Path) and delete_file and file_cache != cache_path:
            file_cache.unlink(missing_ok=True)
        return True, "success"

    def del_cache(self, name: str, *, job_name: str = "", service_id: str = "") -> tuple[bool, str]:
        self.job_path.joinpath(service_id, name).unlink(missing_ok=True)
        self.db.delete_job_cache(name, job_name=job_name or self.job_name, service_id=service_id)
        return True, "success"

    def cache_hash(self, name: str, *, job_name: str = "", service_id: str = "", plugin_id: str = "") -> str | None:
        cache_path = self.job_path.joinpath(service_id, name)
        if cache_path.is_file():
            return hashlib.sha512(cache_path.read_bytes()).hexdigest()
        info = self.get_cache(name, job_name=job_name, service_id=service_id, plugin_id=plugin_id, with_info=True, with_data=False)
        return info.get("checksum") if isinstance(info, dict) else None


class StandInBunkerWeb:
    """One test's BunkerWeb: its database file and cache folder; ``env`` makes jobs use them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.database_uri = f"{URI_PREFIX}{folder / 'db.sqlite3'}"
        self.db = StandInDatabase(sqlalchemy_string=self.database_uri)

    @property
    def env(self) -> dict[str, str]:
        return {"DATABASE_URI": self.database_uri, STANDIN_ENV: "1"}

    def cache_folder(self, plugin_id: str = "redissync") -> Path:
        return self.folder / "var" / "cache" / "bunkerweb" / plugin_id

    def cached(self, job_name: str = "redissync-bans") -> dict[str, bytes]:
        """The database copy of a job's cache: file name → bytes."""
        return {row["file_name"]: row["data"] for row in self.db.get_jobs_cache_files(job_name=job_name)}

    def replace_scheduler(self) -> None:
        """A new scheduler container: the local cache folder is gone, the database remains."""
        import shutil

        shutil.rmtree(self.folder / "var", ignore_errors=True)

    def bytes_written(self) -> int:
        return self.db.get_metadata()["bytes_written"]


def install() -> None:
    """Make ``import jobs`` return this module, as BunkerWeb's utils folder on sys.path does."""
    sys.modules["jobs"] = sys.modules[__name__]
