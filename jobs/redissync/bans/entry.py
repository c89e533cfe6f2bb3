"""The ban row's home: what a raw Redis ban becomes (:func:`classify_row`, the journal's columns in
:data:`ROW_COLUMNS` order, and :func:`classify`, the same as an :class:`Entry`), and its JSON-lines text
form (``bans export``, ``bans import``, ``bans list --json``). Kept apart from both the Redis reader
(``scanner``) and the SQLite journal that stores rows, so neither depends on the other."""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NamedTuple

from ..keys import ban_scope, split_ban_key

MAX_VALUE_BYTES = 64 * 1024  # a larger value is kept byte for byte but labelled "too-large" (and travels alone)
# A row's ``kind`` is ``(scope, service, reason, malformed)``: what the listing and the summary group by, as one value
# (the journal stores it once per kind, bans/schema.py).
ROW_COLUMNS = "key, value, digest, expires_ms, ip, kind, date, seen_ms"
Kind = tuple[str | None, str | None, str | None, str | None]


def row_getter(*names: str) -> Callable[[tuple[Any, ...]], Any]:
    """The columns ``names`` of a row shaped as :data:`ROW_COLUMNS` (one name: the value, several: a tuple), picked in
    C: a bulk load's copies take them from every row (bans/journal.py)."""
    return itemgetter(*(ROW_COLUMNS.split(", ").index(name) for name in names))

# The value digest (the ``digest`` column): a cheap fingerprint the pass compares instead of reading every
# value back. An alias, not a wrapper: the pass calls it once per ban.
digest = zlib.crc32


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

    def as_dict(self, now_ms: int) -> dict[str, Any]:
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


def classify(key: bytes, value: bytes, expires_ms: int | None, now_ms: int) -> Entry:
    """Derive the journal columns from a raw ban; odd values are kept byte for byte and labelled."""
    _, _, _, _, ip, (scope, service, reason, malformed), date, _ = classify_row(key, value, expires_ms, now_ms)
    return Entry(key, value, expires_ms, ip, service, scope, reason, date, malformed, now_ms)


def classify_row(key: bytes, value: bytes, expires_ms: int | None, now_ms: int) -> tuple[Any, ...]:
    """:func:`classify` as the journal's row tuple (:data:`ROW_COLUMNS`, digest included, the kind a tuple): the
    pass writes rows straight from it, without an :class:`Entry` per ban."""
    ip: str | None
    service: str | None
    scope: str | None
    parsed = split_ban_key(key)
    if parsed is not None:
        ip, service = parsed
        scope, malformed = ban_scope(service), None
    else:
        ip = service = scope = None
        malformed = "key"
    reason = date = None
    if len(value) > MAX_VALUE_BYTES:
        malformed = malformed or "too-large"
    else:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            malformed = malformed or "binary"
        else:
            data = _json(text)
            if data.__class__ is dict:
                reason = data.get("reason")
                if reason is not None:
                    reason = str(reason)[:128]
                date = data.get("date")
                if not isinstance(date, (int, float)):
                    date = None
            else:
                # BunkerWeb's own plain value ("bad behavior", badbehavior's first write) is a ban of its own
                # kind, its text the reason (docs/bunkerweb-data.md §bans); other text that is not a JSON object is odd.
                if not _PLAIN_VALUE.fullmatch(text):
                    malformed = malformed or "not-json"
                reason = text[:128]
    return (key, value, digest(value), expires_ms, ip, (scope, service, reason, malformed), date, now_ms)


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,127}")
_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"


def _json(text: str) -> object:
    """``json.loads(text)``, or None when ``text`` is not JSON (a JSON bomb's RecursionError included).
    ``json.loads`` strips whitespace with two regex matches around its C scanner; a value without
    surrounding whitespace (every ban BunkerWeb writes) goes to the scanner directly, which halves the
    cost of a first pass's decoding. Anything else takes the full path: the answer is the same."""
    try:
        data, end = _DECODER.scan_once(text, 0)  # type: ignore[attr-defined]  # set by JSONDecoder.__init__
    except StopIteration:  # nothing JSON at the first character: not JSON, unless it is whitespace
        if text[:1] not in _JSON_SPACE:
            return None
    except (ValueError, RecursionError):
        return None
    else:
        if end == len(text):
            return data
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
