"""One journaled ban as the rest of the package sees it, and its JSON-lines text form (``bans export``,
``bans import``, ``bans list --json``): kept apart from the SQLite journal that stores it."""

from __future__ import annotations

import base64
from typing import NamedTuple


class Entry(NamedTuple):
    """One journaled ban; ``expires_ms`` None = permanent, ``malformed`` None = a well-formed ban.
    (A NamedTuple, not a frozen dataclass: a restore builds one per lost ban, and this is 5× cheaper.)"""

    key: bytes
    value: bytes
    expires_ms: int | None
    ip: str | None = None
    service: str | None = None
    scope: str | None = None
    reason: str | None = None
    date: float | None = None
    malformed: str | None = None
    seen_ms: int = 0

    def as_dict(self, now_ms: int) -> dict:
        """The JSON-lines form used by ``bans export`` / ``import`` and ``bans list --json``."""
        return {
            "key": _text(self.key),
            "value": _text(self.value),
            "expires_ms": self.expires_ms,
            "ttl_ms": None if self.expires_ms is None else max(0, self.expires_ms - now_ms),
            "permanent": self.expires_ms is None,
            "ip": self.ip,
            "service": self.service,
            "scope": self.scope,
            "reason": self.reason,
            "date": self.date,
            "malformed": self.malformed,
        }


def _text(raw: bytes) -> str:
    """UTF-8 text, or ``base64:<…>`` for binary so export/import round-trips every byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


def from_text(text: str) -> bytes:
    """Inverse of :func:`_text`."""
    if text.startswith("base64:"):
        return base64.b64decode(text[len("base64:"):])
    return text.encode("utf-8")
