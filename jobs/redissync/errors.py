"""Every exception redissync raises, in one place (a leaf module: it imports nothing from the package).

    Exception
    ├── RedisSyncError     a job or command failed; one sentence naming the setting(s) to check
    │   │                  (runner: exit 2 for a job, 1 for bwcli)
    │   ├── ArchiveError   a file the bans archive's manifest names is missing or damaged
    │   └── NewerJournal   a bans journal a later redissync wrote (its working copy is rebuilt from the archive)
    ├── StepError          one diagnosis step failed; its sentence is what the user reads
    ├── DiagnosisStopped   control flow: the walk ends at the first failed step (never escapes diagnose())
    ├── BunkerWebUnavailable  the web UI's page: BunkerWeb's database (1.6) or API (1.7) did not answer
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


class NewerJournal(RedisSyncError):
    """A bans journal whose schema a later redissync wrote: this one cannot know its form (bans/schema.py)."""


class StepError(Exception):
    """A failed check, as the one sentence the user reads (never carries a secret)."""


class DiagnosisStopped(Exception):
    """The walk ends here: a step failed."""


class BunkerWebUnavailable(Exception):
    """BunkerWeb's database (1.6) or API (1.7) did not answer the web UI. ``reason`` and ``remedy`` are safe to
    show (never the exception's text): the page says this instead of guessing, since an empty configuration
    would read as "Redis is off"."""

    def __init__(self, source: str, reason: str, remedy: str):
        super().__init__(f"{source} {reason}")
        self.source, self.reason, self.remedy = source, reason, remedy

    @property
    def title(self) -> str:
        return f"{self.source} did not answer"

    @property
    def sentence(self) -> str:
        return (f"The web UI asked {self.source} for redissync's settings and reports, and it {self.reason}. "
                f"Redis's state is unknown from here, not off. {self.remedy}, then reload this page.")


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
