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
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from .connection import connect, explain
from .errors import RedisSyncError, SettingsError
from .settings import Settings, load_settings
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
    return getLogger(name.upper())


def job_name(job_file: str | Path) -> str:
    return Path(job_file).stem


def run_job(job_file: str | Path, work: Work, env: Mapping[str, str] | None = None) -> int:
    """Run ``work`` once and return the exit code for ``sys.exit``.

    USE_REDIS=no → logged and 0. Bad settings → every problem logged, then 2. Redis errors → the
    explanation sentence, 2. Anything unexpected → its type only (a message may carry data), 2.
    """
    env = os.environ if env is None else env
    name = job_name(job_file)
    logger = get_logger(name)
    try:
        settings = load_settings(env)
    except SettingsError as error:
        for problem in error.problems[1:]:
            logger.error(str(problem))
        logger.error(f"{name} failed: {error.problems[0]} (fix the setting in the scheduler's configuration)")
        return EXIT_FAILED
    if not settings.enabled or not settings.use_redissync:
        logger.info(f"{name}: {'USE_REDISSYNC' if settings.enabled else 'USE_REDIS'} is not yes, nothing to do")
        return EXIT_OK
    for notice in (*settings.notices, *settings.warnings):
        logger.warning(notice)
    started = time.monotonic()
    client = connect(settings)
    try:
        summary = work(settings, client, open_state(job_file, env), logger)
    except RedisSyncError as error:
        logger.error(f"{name} failed: {error}")
        return EXIT_FAILED
    except RedisError as error:
        logger.error(f"{name} failed: {explain(error, settings)}")
        return EXIT_FAILED
    except Exception as error:  # never let a message with data (or a secret) reach the log
        logger.error(f"{name} failed with an unexpected {type(error).__name__}; run with LOG_LEVEL=DEBUG for details")
        logger.debug("traceback", exc_info=True)
        return EXIT_FAILED
    finally:
        client.close()
    logger.info(f"{name}: {summary} ({(time.monotonic() - started) * 1000:.0f} ms)")
    return EXIT_OK


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
    client = connect(settings)
    try:
        return work(settings, client)
    except RedisSyncError as error:
        print(f"{name}: {error}", file=sys.stderr)
    except RedisError as error:
        print(f"{name}: {explain(error, settings)}", file=sys.stderr)
    except Exception as error:  # a message may carry data: only its type leaves the process
        print(f"{name} failed with an unexpected {type(error).__name__}; run with LOG_LEVEL=DEBUG for details", file=sys.stderr)
    finally:
        client.close()
    return 1
