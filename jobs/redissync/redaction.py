"""Secret masking, one copy: every output path (diagnosis steps, UI errors, setting problems) goes through it.

A secret is replaced where it stands as a whole value, never where it is part of ordinary text:
- it must not be glued to a word, a hyphenated name or a dotted name (``redis`` in ``redis-server`` or
  ``redis.internal`` stays; ``s3cret.`` ending a sentence is masked);
- after a ``:`` it is kept when the token it ends is an address or a number (with ``REDIS_PASSWORD=1``,
  ``127.0.0.1:1`` and ``[::1]:6379`` stay readable), and masked otherwise (``postgresql://bw:s3cret@db``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .net import is_ip

MASK = "********"
# What in a setting's (or a report field's) name says its value is secret: BunkerWeb runs us with its whole
# configuration in the environment (SESSIONS_SECRET, API_TOKEN, AUTH_BASIC_PASSWORD…).
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|AUTH", re.IGNORECASE)
_TOKEN_CHAR = re.compile(r"[\w.:\[\]%-]")
_NUMBERS = re.compile(r"[\d.:]+")  # versions, times, IPv4 addresses with a port


def _ordinary(token: str) -> bool:
    """An address or a number: ``1.2.3.4``, ``host:6379``, ``[::1]:6379``, ``7.4.1``, ``fe80::1``."""
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::\d+)?", token)
    if bracketed:
        return is_ip(bracketed.group(1))
    host, colon, port = token.rpartition(":")
    return bool(_NUMBERS.fullmatch(token) or is_ip(token) or (colon and host and ":" not in host and port.isdigit()))


def is_secret_name(name: object) -> bool:
    """Whether a setting or field named ``name`` holds a secret (a ``…_set`` flag only says one is set)."""
    shown = str(name)
    return _SECRET_NAME.search(shown) is not None and not shown.lower().endswith("_set")


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every whole occurrence of each non-empty secret replaced by :data:`MASK`."""
    values = sorted({secret for secret in secrets if secret}, key=len, reverse=True)  # longest first: "ab" before "a"
    if not values or not text:
        return text
    pattern = re.compile(r"(?<![\w.-])(?:" + "|".join(map(re.escape, values)) + r")(?![\w-]|\.\w)")

    def mask(match: re.Match[str]) -> str:
        start, end = match.start(), match.end()
        while start > 0 and _TOKEN_CHAR.match(text[start - 1]):
            start -= 1
        while end < len(text) and _TOKEN_CHAR.match(text[end]):
            end += 1
        return match.group(0) if _ordinary(text[start:end]) else MASK

    return pattern.sub(mask, text)


def mask_value(secret_setting: bool, value: str) -> str:
    """A setting's value as shown in a problem report: a secret entirely masked, a long value shortened."""
    if secret_setting and value:
        return MASK
    return value if len(value) <= 80 else value[:77] + "..."
