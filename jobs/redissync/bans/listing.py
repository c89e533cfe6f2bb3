"""What an instance's ``GET /bans`` says: its rows and answers, in every shape BunkerWeb has shipped
(``src/bw/lua/bunkerweb/api.lua``; fetching them is :mod:`.instances`').

- 1.6.0–1.6.15: ``{"status": "success", "msg": "success", "data": [row, …]}`` with rows ``{ip, reason,
  service, date, country, ban_scope, exp, permanent}`` (``exp``: whole seconds left at the instance's
  snapshot, 0 when permanent); with no ban ``{"status": "success", "msg": ""}`` and no ``data``.
- 1.6.16: rows add ``kind`` (``"ban"`` or ``"crowdsec_lease"``, ``banlease.ban_row``) and ``reason_data``
  (at most 4096 bytes); a lease is listed under the IP's ban name but lives in Redis as ``bans_cs_…``.
- 1.7: rows add an absolute ``expires_at`` (epoch seconds, 0 = permanent) and the top level
  ``generation_epoch`` and ``snapshot_time``; the empty answer is ``"data": {}`` (cjson encodes an empty table
  as an object). Later versions add ``total`` and an optional ``?start=&length=`` paging.

Rows name IPs, not keys: in Redis Cluster mode a row is the ban under its cluster name (``bans_ip_{<ip>}``), the
name the journal and Redis then hold (:func:`ban_key` with ``cluster``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..clock import now_ms
from ..keys import BanKey, is_lease
from ..net import is_ip

MAX_BANS_PER_INSTANCE = 200_000  # items past this are counted as malformed, never held in memory
MAX_EXP_S = 10 * 365 * 86_400
MAX_TEXT = 256
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


@dataclass(frozen=True, slots=True)
class InstanceBan:
    """One ban an instance lists. ``exp`` = seconds left (0 when permanent): from the row's absolute
    ``expires_at`` when it has one (1.7), else its ``exp``, which is relative to the instance's snapshot."""

    key: str
    service: str | None
    reason: str
    date: float | None
    country: str
    exp: int
    permanent: bool
    reason_data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def value(self, now_s: float) -> bytes:
        """The Redis value in BunkerWeb's own format (``utils.add_ban`` in ``src/bw/lua/bunkerweb/utils.lua``)."""
        return json.dumps({
            "reason": self.reason,
            "service": self.service or "unknown",
            "date": self.date if self.date is not None else int(now_s),
            "country": self.country,
            "ban_scope": "global" if self.service is None else "service",
            "reason_data": self.reason_data,
            "permanent": self.permanent,
        }, separators=(",", ":")).encode()


@dataclass
class InstanceAnswer:
    """What one instance answered, or ``error`` (None = it answered). ``listed`` maps each ban key to the raw
    item: most listed bans are in Redis already, so only the others are ever parsed whole (:func:`parse_ban`),
    and a pass over a large cluster holds no object per ban it does not need."""

    name: str
    listed: dict[str, dict[str, Any]] = field(default_factory=dict)
    malformed: int = 0
    leases: int = 0  # CrowdSec leases listed ("kind": "crowdsec_lease"): CrowdSec's, never propagated
    other_kinds: int = 0  # rows of a kind this version does not know: skipped, never propagated
    rows: int = 0  # rows the answer (all its pages) carried, whatever became of them
    total: int | None = None  # 1.7's "total": how many rows the instance holds (None: the answer is complete)
    error: str | None = None

    @property
    def incomplete(self) -> bool:
        """1.7's ``total`` says rows exist past the ones received (their next page starts at :attr:`rows`)."""
        return self.total is not None and self.rows < min(self.total, MAX_BANS_PER_INSTANCE)

    @property
    def bans(self) -> list[InstanceBan]:
        """Every listed ban parsed whole, now (what the tests and small answers use)."""
        now_s = now_ms() / 1000
        return [ban for item in self.listed.values() if (ban := parse_ban(item, now_s)) is not None]


def parse_answer(name: str, payload: Any, answer: InstanceAnswer | None = None) -> InstanceAnswer:
    """An instance's decoded ``GET /bans`` answer (or its next page, added to ``answer``). On the wire
    (``api.lua``, ``do_api_call``) it is ``{"status": "success", "msg": "success", "data": [ban, …]}``, or
    without ``data`` and with ``"msg": ""`` when there is no ban (1.6), or with ``"data": {}`` (1.7: cjson
    encodes an empty table as an object); the list under ``msg`` (the pre-``do_api_call`` shape) is accepted too."""
    answer = answer or InstanceAnswer(name)
    if not isinstance(payload, dict) or payload.get("status") != "success":
        answer.error = "answered something other than a success object"
        return answer
    total = payload.get("total")
    answer.total = total if total.__class__ is int and total >= 0 else None
    items = payload.get("data")
    if items is None and isinstance(payload.get("msg"), list):
        items = payload["msg"]
    if items is None or items == {}:  # no ban
        return answer
    if not isinstance(items, list):
        answer.error = "answered a 'data' that is not a list"
        return answer
    room = MAX_BANS_PER_INSTANCE - answer.rows
    answer.rows += len(items)
    answer.malformed += max(0, len(items) - room)
    for item in items[:max(room, 0)]:
        key = ban_key(item)
        if key is None:
            answer.malformed += 1
        elif item.get("kind", "ban") != "ban" or item.get("reason_data"):
            _skip_other_kind(answer, item, key)
        else:
            answer.listed[key] = item
    return answer


def _skip_other_kind(answer: InstanceAnswer, item: dict[str, Any], key: str) -> None:
    """1.6.16 rows carry ``kind`` and ``reason_data``: a plain ban (listed) or a CrowdSec lease (counted, left to
    CrowdSec: ``api.lua`` lists it under ``bans_ip_<ip>``'s name although Redis keeps it as ``bans_cs_ip_<ip>``)."""
    if is_lease(item):
        answer.leases += 1
    elif item.get("kind", "ban") != "ban":
        answer.other_kinds += 1
    else:
        answer.listed[key] = item


def _left(expires_at: Any, now_s: float) -> int | None:
    """Whole seconds left until an absolute ``expires_at`` (0 = permanent), None when it is not a time or has passed."""
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)) or not 0 <= expires_at < 2**33:
        return None
    if expires_at == 0:
        return 0
    left = math.floor(expires_at - now_s)
    return left if left > 0 else None


def expired_row(item: dict[str, Any], now_s: float) -> bool:
    """A row whose absolute ``expires_at`` (1.7) has passed: gone, not malformed."""
    expires_at = item.get("expires_at")
    return isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool) and 0 < expires_at <= now_s


def _text(value: Any, default: str) -> str | None:
    if value is None:
        return default
    return value[:MAX_TEXT] if isinstance(value, str) else None


def ban_key(item: Any, cluster: bool = False) -> str | None:
    """The Redis key a listed ban names (``bans_ip_<ip>`` or ``bans_service_<service>_ip_<ip>``, as
    ``api.lua`` derives them; with ``cluster``, Redis Cluster mode's name of the same ban, keys.BanKey.key_in), or
    None when the item is not an object or its ``ip``, ``ban_scope`` or ``service`` has the wrong
    type. Only types are checked here, for every listed ban; :func:`parse_ban` validates the values of the
    few a pass may write."""
    if item.__class__ is not dict:
        return None
    ip, scope = item.get("ip"), item.get("ban_scope", "global")
    if ip.__class__ is not str or len(ip) > 64:
        return None
    if scope == "global":
        return BanKey(ip).key_in(cluster) if cluster else "bans_ip_" + ip
    service = item.get("service")
    if scope != "service" or service.__class__ is not str or len(service) > 253:
        return None
    return BanKey(ip, service).key_in(cluster) if cluster else f"bans_service_{service}_ip_{ip}"


def parse_ban(item: Any, now_s: float, cluster: bool = False) -> InstanceBan | None:
    """One listed ban, or None when any field has the wrong type or an impossible value. ``now_s``: the
    wall clock, which turns 1.7's absolute ``expires_at`` into seconds left (it wins over ``exp``, which aged
    while the answer travelled and waited); a ban whose ``expires_at`` has passed is None."""
    key = ban_key(item, cluster)
    if key is None or not is_ip(item["ip"]):
        return None
    service = item["service"] if item.get("ban_scope", "global") == "service" else None
    if service is not None and not _SERVICE.fullmatch(service):
        return None
    exp, permanent = item.get("exp"), item.get("permanent", False)
    if "expires_at" in item:
        exp = _left(item["expires_at"], now_s)
    if isinstance(exp, float) and exp.is_integer():
        exp = int(exp)
    if exp.__class__ is not int or not 0 <= exp <= MAX_EXP_S or not isinstance(permanent, bool):
        return None
    date = item.get("date")
    if isinstance(date, bool) or not isinstance(date, (int, float, type(None))) or (date is not None and not 0 <= date < 2**33):
        return None
    reason, country = _text(item.get("reason"), "unknown"), _text(item.get("country"), "local")
    reason_data = item.get("reason_data", {})
    if reason is None or country is None or not isinstance(reason_data, dict) or (reason_data and len(json.dumps(reason_data)) > 4096):
        return None
    # An instance's datastore holds a key without expiry with ttl 0: exp 0 is a permanent ban either way.
    return InstanceBan(key, service, reason, date, country, exp, permanent or exp == 0, reason_data)
