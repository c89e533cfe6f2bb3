"""The skeleton every job and bwcli command shares: settings → client → one domain call → exit code.

BunkerWeb runs job files in-process with ``exec_module`` and maps ``sys.exit`` codes: 0 = success with
nothing to reload, 2 = failure. Our jobs never change nginx's configuration, so they never return 1.
A failure is logged as *one* actionable line (the sentence from :func:`connection.explain`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisClusterException, RedisError

from .cached_files import run_record_file
from .cluster_mode import CLUSTER_PASSES_NOT_YET, CLUSTER_READY, refuse_cluster_mode
from .connection import connect, explain
from .errors import RedisSyncError, SettingsError
from .figures import job_ended
from .logs import debug_traceback
from .settings import Settings, api_token, load_settings
from .state import StateStore, open_state

EXIT_OK = 0
EXIT_FAILED = 2

Work = Callable[[Settings, Redis, StateStore, logging.Logger], str]


def get_logger(name: str) -> logging.Logger:
    """BunkerWeb's logger (its format, level and handlers) inside BunkerWeb, stdlib logging elsewhere."""
    try:
        from logger import getLogger  # type: ignore[import-not-found]  # BunkerWeb's utils/logger.py
    except ImportError:
        logger = logging.getLogger(name.upper())
        if not logging.getLogger().handlers and not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s [%(name)s] [%(levelname)s] - %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
        return logger
    bunkerweb_logger: logging.Logger = getLogger(name.upper())
    return bunkerweb_logger


def job_name(job_file: str | Path) -> str:
    return Path(job_file).stem


def record_run(state: Callable[[], StateStore], job: str, ok: bool, line: str, logger: logging.Logger) -> None:
    """Cache how this run ended (``cached_files.RunRecord``), so the page never has to trust BunkerWeb's job-run
    records. ``line`` is the run's log line, which never carries a secret."""
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "ok": ok, "line": line[:400]}
    try:
        state().write_json(run_record_file(job), record)
    except Exception as error:  # a full disk or a refused cache must not hide the verdict
        logger.warning(f"{job} could not store its run record ({type(error).__name__})")


def run_job(job_file: str | Path, work: Work, env: Mapping[str, str] | None = None) -> int:
    """Run ``work`` once, record how it ended (:func:`record_run` and its figures; not when disabled) and return
    the exit code for ``sys.exit``. The state is opened once: inside BunkerWeb each ``Job`` restores the whole cache."""
    env = os.environ if env is None else env
    name = job_name(job_file)
    logger = get_logger(name)
    opened: list[StateStore] = []

    def state() -> StateStore:
        if not opened:
            opened.append(open_state(job_file, env))
        return opened[0]

    started = time.monotonic()
    ok, line = _run_work(name, logger, env, work, state)
    if opened or not ok:
        record_run(state, name, ok, line, logger)
        job_ended(name, state, ok, time.monotonic() - started, api_token(env), logger)
    return EXIT_OK if ok else EXIT_FAILED


def _run_work(name: str, logger: logging.Logger, env: Mapping[str, str], work: Work,
              state: Callable[[], StateStore]) -> tuple[bool, str]:
    """USE_REDIS=no → logged, ok. Bad settings → every problem logged, failed. Redis errors → the
    explanation sentence, failed. Anything unexpected → its type only (a message may carry data), failed."""
    try:
        settings = load_settings(env)
    except SettingsError as error:
        for problem in error.problems[1:]:
            logger.error(str(problem))
        return _failed(logger, f"{name} failed: {error.problems[0]} (fix the setting in the scheduler's configuration)")
    if not settings.enabled or not settings.use_redissync:
        switch = "USE_REDISSYNC" if settings.enabled else "USE_REDIS"
        logger.info(f"{name}: {switch} is not yes, nothing to do")
        return True, f"{switch} is not yes: nothing to do"
    if settings.cluster_nodes and name not in CLUSTER_READY:
        return _failed(logger, f"{name} failed: {CLUSTER_PASSES_NOT_YET}")
    for notice in (*settings.notices, *settings.warnings):
        logger.warning(notice)
    started = time.monotonic()
    client = None
    try:
        client = connect(settings)  # a cluster client asks its seeds for the slot map here
        if not settings.cluster_nodes:
            refuse_cluster_mode(client, settings)
        summary = work(settings, client, state(), logger)
    except RedisSyncError as error:
        return _failed(logger, f"{name} failed: {error}")
    except (RedisError, RedisClusterException) as error:
        return _failed(logger, f"{name} failed: {explain(error, settings)}")
    except Exception as error:  # never let a message with data (or a secret) reach the log
        failed = _failed(logger, f"{name} failed with an unexpected {type(error).__name__}; run with LOG_LEVEL=DEBUG for details")
        debug_traceback(logger, f"{name} failed", env)
        return failed
    finally:
        if client is not None:
            client.close()
    logger.info(f"{name}: {summary} ({(time.monotonic() - started) * 1000:.0f} ms)")
    return True, summary


def _failed(logger: logging.Logger, line: str) -> tuple[bool, str]:
    logger.error(line)
    return False, line


def run_command(name: str, work: Callable[[Settings, Redis], int], env: Mapping[str, str] | None = None) -> int:
    """The bwcli counterpart of :func:`run_job`: messages to stderr, exit 0 (ok) or 1 (failure).

    USE_REDIS=no is a failure here: the user asked for something that needs the shared Redis.
    """
    env = os.environ if env is None else env
    try:
        settings = load_settings(env)
    except SettingsError as error:
        print(f"{name}: {error.problems[0]} (fix the setting in BunkerWeb's configuration)", file=sys.stderr)
        return 1
    if not settings.enabled:
        print(f"{name}: USE_REDIS is not yes, so nothing is shared through Redis; set USE_REDIS=yes", file=sys.stderr)
        return 1
    if settings.cluster_nodes and name not in CLUSTER_READY:
        print(f"{name}: {CLUSTER_PASSES_NOT_YET}", file=sys.stderr)
        return 1
    client = None
    try:
        client = connect(settings)
        if not settings.cluster_nodes:
            refuse_cluster_mode(client, settings)
        return work(settings, client)
    except RedisSyncError as error:
        print(f"{name}: {error}", file=sys.stderr)
    except (RedisError, RedisClusterException) as error:
        print(f"{name}: {explain(error, settings)}", file=sys.stderr)
    except Exception as error:  # a message may carry data: only its type leaves the process
        print(f"{name} failed with an unexpected {type(error).__name__}; run with LOG_LEVEL=DEBUG for details", file=sys.stderr)
        debug_traceback(logging.getLogger(f"redissync.{name}"), f"{name} failed", env)
    finally:
        if client is not None:
            client.close()
    return 1
