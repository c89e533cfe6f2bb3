"""The traceback ``LOG_LEVEL=DEBUG`` promises, secrets masked (by :mod:`.redaction`), and CLI logging.

A traceback shows exception messages and, with redis-py, sometimes connection arguments; BunkerWeb runs
our code with its whole configuration in the environment (SESSIONS_SECRET, API tokens…). So every value
of a setting whose name says it is secret is replaced before a line leaves the process.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Mapping
from typing import TextIO

from .redaction import is_secret_name, redact

MIN_SECRET_LENGTH = 3  # shorter values would mask ordinary words


def secret_values(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of every secret-named setting in ``env`` (os.environ by default)."""
    env = os.environ if env is None else env
    return tuple({str(value) for name, value in env.items() if is_secret_name(name) and len(str(value)) >= MIN_SECRET_LENGTH})


def debug_traceback(logger: logging.Logger, what: str, env: Mapping[str, str] | None = None) -> None:
    """At DEBUG only: the current exception's traceback, secrets masked (call from an ``except`` block)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(f"{what}:\n" + redact(traceback.format_exc().rstrip(), secret_values(env)))


class _CliHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time of each record (a command may run in a host process)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_cli_logging(env: Mapping[str, str] | None = None) -> None:
    """bwcli commands and standalone scripts: the ``redissync`` loggers at LOG_LEVEL (BunkerWeb's ``bwcli -d``
    sets DEBUG) on stderr, whatever the host process did with the root logger. Idempotent."""
    env = os.environ if env is None else env
    level = str(env.get("LOG_LEVEL", "INFO")).upper()
    logger = logging.getLogger("redissync")
    if not any(isinstance(handler, _CliHandler) for handler in logger.handlers):
        handler = _CliHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
