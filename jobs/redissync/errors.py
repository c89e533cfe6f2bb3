"""Every exception redissync raises, in one place (a leaf module: it imports nothing from the package).

    Exception
    ├── RedisSyncError     a job or command failed; one sentence naming the setting(s) to check
    │   │                  (runner: exit 2 for a job, 1 for bwcli)
    │   └── ArchiveError   a file the bans archive's manifest names is missing or damaged
    ├── StepError          one diagnosis step failed; its sentence is what the user reads
    ├── DiagnosisStopped   control flow: the walk ends at the first failed step (never escapes diagnose())
    ├── RuntimeError
    │   └── PassRunning    ``bans forget`` refused: a bans pass holds the lock (try again in a minute)
    └── ValueError
        ├── SettingsError     every problem of one environment, one line each (``.problems``)
        ├── CoreSettingError  a core BunkerWeb setting with a value its owner would have rejected
        └── BadRequest        web UI input we refuse, with the sentence the caller sees

None of them ever carries a secret: messages are built from setting names and public values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class RedisSyncError(Exception):
    """A failure explained in one sentence that names the setting(s) to check; never carries a secret."""


class ArchiveError(RedisSyncError):
    """A file the bans archive's manifest names is missing or damaged: the journal is not loaded from it."""


class StepError(Exception):
    """A failed check, as the one sentence the user reads (never carries a secret)."""


class DiagnosisStopped(Exception):
    """The walk ends here: a step failed."""


class PassRunning(RuntimeError):
    """A bans pass holds the lock: forgetting now would race it."""


class SettingsError(ValueError):
    """All the problems of one environment, one line each."""

    def __init__(self, problems: Iterable[Any]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class CoreSettingError(ValueError):
    """A core setting with a value its owner would have rejected."""


class BadRequest(ValueError):
    """Input we refuse, with the sentence the caller sees."""
