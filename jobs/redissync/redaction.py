"""Secret masking, one copy: every output path (diagnosis steps, UI errors, setting problems) goes through it.

A secret is replaced where it stands as a whole value, never where it is part of ordinary text: with
``REDIS_PASSWORD=1`` the address ``127.0.0.1:1`` stays readable. A value is whole when it is not glued to a
character that continues a word, a number, an address or a path (``.`` and ``:`` only when more follows, so
a secret ending a sentence or followed by ``: reason`` is still masked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "********"
_BEFORE = r"(?<![\w.:@/+\-])"
_AFTER = r"(?![\w@/+\-]|[.:]\w)"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every whole occurrence of each non-empty secret replaced by :data:`MASK`."""
    values = sorted({secret for secret in secrets if secret}, key=len, reverse=True)  # longest first: "ab" before "a"
    if not values or not text:
        return text
    return re.sub(_BEFORE + "(?:" + "|".join(map(re.escape, values)) + ")" + _AFTER, MASK, text)


def mask_value(secret_setting: bool, value: str) -> str:
    """A setting's value as shown in a problem report: a secret entirely masked, a long value shortened."""
    if secret_setting and value:
        return MASK
    return value if len(value) <= 80 else value[:77] + "..."
