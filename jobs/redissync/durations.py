"""Duration settings (REDIS_TIMEOUT, REDIS_KEEPALIVE_IDLE) read exactly as BunkerWeb reads them.

BunkerWeb 1.6.16 (``src/bw/lua/bunkerweb/duration.lua``, core redis plugin.json regex ``^\\d+(ms?|[shdwMy])?$``):
one whole number and at most one suffix; ``ms``, ``s``, ``m`` (minutes), ``h``, ``d``, ``w``, ``M`` (30 days),
``y`` (365 days); a bare number keeps the setting's old unit, milliseconds inside BunkerWeb. ``1.5s``, ``-1``
and ``1h30m`` are refused. duration.lua floors ``amount × factor / default factor``; in milliseconds, our unit,
that division is exact. Outside BunkerWeb (the seed table) a bare number is seconds.

``confs/http/redissync-options.lua`` spells the same rule in Jinja (BunkerWeb's generator cannot import this
package); tests/confs checks the two agree value for value.
"""

from __future__ import annotations

import re

UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
           "M": 2_592_000_000, "y": 31_536_000_000}
# ASCII digits only: Python's \d (BunkerWeb's scheduler regex) also matches other scripts' digits, Lua's %d does not.
PATTERN = re.compile(r"([0-9]+)(ms|[smhdwMy])?")
BARE_MS = "ms"  # inside BunkerWeb
BARE_SECONDS = "s"  # outside it (the seed table)
MAX_MS = 999_999_999_000  # the seed table's old ceiling (999,999,999 s): far beyond any sane value, within a socket's range


def parse_ms(value: str, bare_unit: str) -> int | None:
    """Whole milliseconds, or None for a value BunkerWeb refuses or beyond :data:`MAX_MS`."""
    match = PATTERN.fullmatch(value)
    if not match:
        return None
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > len(str(MAX_MS)):  # int() of thousands of digits is slow, then refused (sys.int_info)
        return None
    milliseconds = int(digits) * UNIT_MS[match.group(2) or bare_unit]
    return milliseconds if milliseconds <= MAX_MS else None
