"""The BunkerWeb instances as a second source of bans: what each one's ``GET /bans`` lists.

An instance writes a ban to its local datastore first and to Redis second (``utils.add_ban``), so a ban made
while Redis was unreachable, or lost by Redis before a pass read it, lives only on that instance
(``src/bw/lua/bunkerweb/utils.lua``). This module reaches the instances the way BunkerWeb's own jobs do
(``core/bunkernet/jobs/bunkernet-send.py``): one ``API`` per row of ``JOB.db.get_instances()``, built with ``API.from_instance``
(BunkerWeb ≥ 1.6.5) or from the row's hostname, port and server name (earlier 1.6 releases,
``src/common/api/API.py``). It calls ``API.request`` per instance rather than ``ApiCaller.send_to_apis``:
the latter keys answers by host name (two instances on one host collapse), cannot bound the wait, and does
not say which instance failed. Outside BunkerWeb (tests, ``make demo``) :class:`StdlibApi` stands in for
``API`` with ``http.client``; the rest of the path is the same.

Every answer is parsed defensively (:func:`parse_answer`): an instance that times out, is unreachable or
answers nonsense is reported by name, never stops the pass.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..net import is_ip

TIMEOUT_S = 5.0  # per instance, for connecting and for each read; the whole fetch is bounded by 2× that
MAX_BANS_PER_INSTANCE = 200_000  # items past this are counted as malformed, never held in memory
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_EXP_S = 10 * 365 * 86_400
MAX_TEXT = 256
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
BUNKERWEB_API_DIR = Path("/usr/share/bunkerweb/api")  # where BunkerWeb's API.py lives (not always on sys.path)


@dataclass(frozen=True, slots=True)
class InstanceBan:
    """One ban an instance lists. ``exp`` = seconds left at the instance's snapshot (0 when permanent)."""

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
    error: str | None = None

    @property
    def bans(self) -> list[InstanceBan]:
        """Every listed ban parsed whole (what the tests and small answers use)."""
        return [ban for ban in map(parse_ban, self.listed.values()) if ban is not None]


class InstanceSource(Protocol):
    """Where a pass gets the instances' local bans (BunkerWeb's database and API, or a stand-in)."""

    def fetch_bans(self) -> list[InstanceAnswer]: ...


def parse_answer(name: str, payload: Any) -> InstanceAnswer:
    """An instance's decoded ``GET /bans`` answer. On the wire (``api.lua``, ``do_api_call``) it is
    ``{"status": "success", "msg": "success", "data": [ban, …]}``, or ``{"status": "success", "msg": ""}``
    without ``data`` when there is no ban; the list under ``msg`` (the pre-``do_api_call`` shape) is accepted
    too."""
    answer = InstanceAnswer(name)
    if not isinstance(payload, dict) or payload.get("status") != "success":
        answer.error = "answered something other than a success object"
        return answer
    items = payload.get("data")
    if items is None and isinstance(payload.get("msg"), list):
        items = payload["msg"]
    if items is None or items == {}:  # no ban (cjson encodes an empty table as {})
        return answer
    if not isinstance(items, list):
        answer.error = "answered a 'data' that is not a list"
        return answer
    answer.malformed = max(0, len(items) - MAX_BANS_PER_INSTANCE)
    for item in items[:MAX_BANS_PER_INSTANCE]:
        key = ban_key(item)
        if key is None:
            answer.malformed += 1
        else:
            answer.listed[key] = item
    return answer


def _text(value: Any, default: str) -> str | None:
    if value is None:
        return default
    return value[:MAX_TEXT] if isinstance(value, str) else None


def ban_key(item: Any) -> str | None:
    """The Redis key a listed ban names (``bans_ip_<ip>`` or ``bans_service_<service>_ip_<ip>``, as
    ``api.lua`` derives them), or None when the item is not an object or its ``ip``, ``ban_scope`` or ``service`` has the wrong
    type. Only types are checked here, for every listed ban; :func:`parse_ban` validates the values of the
    few a pass may write."""
    if item.__class__ is not dict:
        return None
    ip, scope = item.get("ip"), item.get("ban_scope", "global")
    if ip.__class__ is not str or len(ip) > 64:
        return None
    if scope == "global":
        return "bans_ip_" + ip
    service = item.get("service")
    if scope != "service" or service.__class__ is not str or len(service) > 253:
        return None
    return f"bans_service_{service}_ip_{ip}"


def parse_ban(item: Any) -> InstanceBan | None:
    """One listed ban, or None when any field has the wrong type or an impossible value."""
    key = ban_key(item)
    if key is None or not is_ip(item["ip"]):
        return None
    service = item["service"] if item.get("ban_scope", "global") == "service" else None
    if service is not None and not _SERVICE.fullmatch(service):
        return None
    exp, permanent = item.get("exp"), item.get("permanent", False)
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


class StdlibApi:
    """Stands in for BunkerWeb's ``API`` outside BunkerWeb: same constructor, same ``request`` result
    ``(sent, error, status, decoded JSON)``, plain HTTP over ``http.client``, answers capped in size."""

    def __init__(self, endpoint: str, host: str = "bwapi", token: str = ""):
        self.endpoint = endpoint.rstrip("/")
        self.host = host
        self.token = token  # handed down from Settings.api_token: domain code never reads the environment

    @classmethod
    def from_instance(cls, instance: dict[str, Any], token: str = "") -> StdlibApi:
        return cls(f"http://{instance.get('hostname', '127.0.0.1')}:{instance.get('port') or 5000}",
                   host=instance.get("server_name") or "bwapi", token=token)

    def request(self, method: str, url: str, data: dict[str, Any] | bytes | None = None,
                timeout: tuple[float, float] = (TIMEOUT_S, TIMEOUT_S)) -> tuple[Any, ...]:
        hostport = self.endpoint.removeprefix("http://")
        connection = http.client.HTTPConnection(hostport, timeout=max(timeout))
        headers = {"User-Agent": "bwapi", "Host": self.host}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = None
        if isinstance(data, bytes):  # as BunkerWeb's API.request: bytes are the body, a dict is JSON
            body = data
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, "/" + url.lstrip("/"), body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read(MAX_ANSWER_BYTES + 1)
        except TimeoutError:
            return False, "timed out", None, None
        except OSError as error:
            return False, f"unreachable ({type(error).__name__})", None, None
        except http.client.HTTPException as error:
            return False, f"broken answer ({type(error).__name__})", None, None
        finally:
            connection.close()
        if len(raw) > MAX_ANSWER_BYTES:
            return True, "ok", response.status, TooLarge()
        return True, "ok", response.status, json.loads(raw)  # ValueError is the caller's "not JSON"


class TooLarge:
    """The decoded answer of an instance whose answer exceeded :data:`MAX_ANSWER_BYTES`."""


def bunkerweb_api_class() -> Any:
    """BunkerWeb's ``API`` class inside BunkerWeb (its folder added to sys.path as its own jobs do), else
    :class:`StdlibApi`."""
    if BUNKERWEB_API_DIR.is_dir() and str(BUNKERWEB_API_DIR) not in sys.path:
        sys.path.append(str(BUNKERWEB_API_DIR))
    try:
        from API import API  # type: ignore[import-not-found]  # BunkerWeb's src/common/api/API.py
    except ImportError:
        return StdlibApi
    return API


class BunkerWebInstances:
    """:class:`InstanceSource` over BunkerWeb's database (``db.get_instances()``) and ``API`` class."""

    def __init__(self, db: Any, api_class: Any = None, timeout: float = TIMEOUT_S, api_token: str = ""):
        self.db = db
        self.api_class = api_class or bunkerweb_api_class()
        self.timeout = timeout
        self.api_token = api_token

    def _api(self, row: dict[str, Any]) -> Any:
        if self.api_class is StdlibApi:  # BunkerWeb's own API class takes API_TOKEN from its environment itself
            return StdlibApi.from_instance(row, token=self.api_token)
        if hasattr(self.api_class, "from_instance"):  # BunkerWeb ≥ 1.6.5 (honours listen_https/https_port)
            return self.api_class.from_instance(row)
        return self.api_class(f"http://{row['hostname']}:{row['port']}", host=row.get("server_name") or "bwapi")

    def _fetch(self, name: str, api: Any) -> InstanceAnswer:
        try:
            sent, error, status, payload = api.request("GET", "/bans", timeout=(self.timeout, self.timeout))
        except (ValueError, RecursionError):  # API.request decodes the body itself: not JSON (or a JSON bomb)
            return InstanceAnswer(name, error="answered something that is not JSON")
        except Exception as exception:
            return InstanceAnswer(name, error=_describe(exception))
        if not sent:
            return InstanceAnswer(name, error="timed out" if "timed out" in str(error).lower() else "unreachable")
        if status != 200:
            return InstanceAnswer(name, error=f"answered HTTP {status}")
        if isinstance(payload, TooLarge):
            return InstanceAnswer(name, error=f"answered more than {MAX_ANSWER_BYTES:,} bytes")
        return parse_answer(name, payload)

    def apis(self) -> list[tuple[str, Any]]:
        """Each instance's name and ``API`` object; several instances on one host are told apart by port.
        Raises what BunkerWeb's database raises."""
        rows = [row for row in self.db.get_instances() or [] if isinstance(row, dict)]
        names = [str(row.get("hostname") or "?") for row in rows]
        if len(set(names)) < len(names):
            names = [f"{name}:{row.get('port')}" for name, row in zip(names, rows, strict=True)]
        return [(name, self._api(row)) for name, row in zip(names, rows, strict=True)]

    def fetch_bans(self) -> list[InstanceAnswer]:
        """Every instance's answer, fetched in parallel; one that is still silent after twice the timeout
        is reported as timed out and left behind."""
        try:
            apis = self.apis()
        except Exception as error:
            return [InstanceAnswer("BunkerWeb's instance list", error=f"could not be read ({type(error).__name__})")]
        if not apis:
            return []
        pool = ThreadPoolExecutor(max_workers=min(8, len(apis)), thread_name_prefix="redissync-instances")
        futures = [pool.submit(self._fetch, name, api) for name, api in apis]
        wait(futures, timeout=2 * self.timeout + 1)
        pool.shutdown(wait=False, cancel_futures=True)
        return [future.result() if future.done() else InstanceAnswer(name, error="timed out")
                for (name, _), future in zip(apis, futures, strict=True)]


def _describe(error: Exception) -> str:
    text = f"{type(error).__name__} {error}".lower()
    return "timed out" if "timeout" in text or "timed out" in text else f"failed ({type(error).__name__})"


def instance_source(state: Any, api_token: str = "") -> BunkerWebInstances | None:
    """The instances of the BunkerWeb whose job cache ``state`` uses; None outside BunkerWeb.
    ``api_token`` is ``Settings.api_token`` (API_TOKEN, read by the runner)."""
    db = state.bunkerweb_db
    return BunkerWebInstances(db, api_token=api_token) if db is not None and hasattr(db, "get_instances") else None
