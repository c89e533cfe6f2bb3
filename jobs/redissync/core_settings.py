"""BunkerWeb core settings that other plugins own but our jobs must honour (metrics, sessions).

They reach the scheduler's environment like every setting. :func:`~.settings.load_settings` copies their raw
values into ``Settings.core`` (the environment is read once, by the runner), and the job that needs one
validates it here with the owner's rule: a bad value is a :class:`CoreSettingError` whose message is one
actionable sentence naming the setting, and fails only that job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import CoreSettingError

_MULTIPLIERS = {"": 1, "k": 1000, "m": 1_000_000}  # metrics.lua parse_count: k = 1000, m = 1 000 000


@dataclass(frozen=True)
class CountSetting:
    """An integer setting; ``shorthand`` accepts the ``10k`` / ``1m`` notation metrics.lua accepts."""

    name: str
    default: str
    owner: str
    shorthand: bool = False

    def read(self, env: Mapping[str, str]) -> int:
        raw = str(env.get(self.name, self.default)).strip() or self.default
        pattern = r"(\d{1,12})([kKmM]?)" if self.shorthand else r"(\d{1,12})()"
        match = re.fullmatch(pattern, raw)
        if not match:
            form = "a whole number, optionally with a k or m suffix (e.g. 10k)" if self.shorthand else "a whole number of seconds"
            shown = raw if len(raw) <= 40 else raw[:37] + "..."
            raise CoreSettingError(
                f"{self.name}={shown!r} is invalid: expected {form}; fix it in the {self.owner} settings of the scheduler"
            )
        return int(match.group(1)) * _MULTIPLIERS[match.group(2).lower()]


METRICS_MAX_BLOCKED_REQUESTS_REDIS = CountSetting("METRICS_MAX_BLOCKED_REQUESTS_REDIS", "10k", "metrics", shorthand=True)
SESSIONS_ABSOLUTE_TIMEOUT = CountSetting("SESSIONS_ABSOLUTE_TIMEOUT", "86400", "sessions")
CORE_SETTINGS = (METRICS_MAX_BLOCKED_REQUESTS_REDIS, SESSIONS_ABSOLUTE_TIMEOUT)
# BunkerWeb 1.6.14+: metrics.lua gives every metrics key this TTL (or, at 0, PERSISTs them: "keeps the keys
# permanent"). Its presence is what our metrics hygiene honours; its value is core's to read (units changed in 1.6.16).
METRICS_REDIS_TTL = "METRICS_REDIS_TTL"
CORE_NAMES = (*(setting.name for setting in CORE_SETTINGS), METRICS_REDIS_TTL)
