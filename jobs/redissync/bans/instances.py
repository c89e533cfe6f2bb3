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

Every answer is parsed defensively (:mod:`.listing`, every shape BunkerWeb has shipped): an instance that
times out, is unreachable or answers nonsense is reported by name, never stops the pass. When 1.7's ``total``
says rows exist past those received, the next pages are fetched (``?start=&length=``) until it is complete.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .listing import MAX_BANS_PER_INSTANCE, InstanceAnswer, parse_answer

TIMEOUT_S = 5.0  # per instance, for connecting and for each read; the whole fetch is bounded by 2× that
PAGE_LENGTH = 10_000  # rows asked per page when an answer's ``total`` says more rows exist (1.7)
MAX_ANSWER_BYTES = 64 * 1024 * 1024
BUNKERWEB_API_DIR = Path("/usr/share/bunkerweb/api")  # where BunkerWeb's API.py lives (not always on sys.path)
T = TypeVar("T")


class InstanceSource(Protocol):
    """Where a pass gets the instances' local bans (BunkerWeb's database and API, or a stand-in)."""

    def fetch_bans(self) -> list[InstanceAnswer]: ...


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
        import http.client  # here, not at the top: no job inside BunkerWeb runs this stand-in (≈ 5 ms of start-up)

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
        """Every row of one instance: the answer, then (1.7, ``total`` above what came) the next pages. A page
        that fails makes the instance silent: a partial listing must not count as everything it holds."""
        answer = InstanceAnswer(name)
        url = "/bans"
        for _ in range(MAX_BANS_PER_INSTANCE // PAGE_LENGTH + 2):
            rows = answer.rows
            error = self._page(api, url, answer)
            if error is not None:
                return InstanceAnswer(name, error=error if rows == 0 else f"{error} (rows {rows} onwards)")
            if not answer.incomplete or answer.rows == rows:  # complete, or the listing shrank meanwhile
                break
            url = f"/bans?start={answer.rows}&length={PAGE_LENGTH}"
        answer.total = None
        return answer

    def _page(self, api: Any, url: str, answer: InstanceAnswer) -> str | None:
        """One ``GET`` of ``url``, parsed into ``answer``; why it failed, or None."""
        try:
            sent, error, status, payload = api.request("GET", url, timeout=(self.timeout, self.timeout))
        except (ValueError, RecursionError):  # API.request decodes the body itself: not JSON (or a JSON bomb)
            return "answered something that is not JSON"
        except Exception as exception:
            return _describe(exception)
        if not sent:
            return "timed out" if "timed out" in str(error).lower() else "unreachable"
        if status != 200:
            return f"answered HTTP {status}"
        if isinstance(payload, TooLarge):
            return f"answered more than {MAX_ANSWER_BYTES:,} bytes"
        parse_answer(answer.name, payload, answer)
        return answer.error

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
        answers = ask_each(apis, self._fetch, 2 * self.timeout + 1)
        return [answer or InstanceAnswer(name, error="timed out") for (name, _), answer in zip(apis, answers, strict=True)]


def ask_each(apis: list[tuple[str, Any]], call: Callable[[str, Any], T], timeout: float) -> list[T | None]:
    """``call(name, api)`` for every instance in parallel; None for one still silent after ``timeout`` s, left
    behind (its thread ends with its own request timeout)."""
    if not apis:
        return []
    pool = ThreadPoolExecutor(max_workers=min(8, len(apis)), thread_name_prefix="redissync-instances")
    futures = [pool.submit(call, name, api) for name, api in apis]
    wait(futures, timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)
    return [future.result() if future.done() else None for future in futures]


def _describe(error: Exception) -> str:
    text = f"{type(error).__name__} {error}".lower()
    return "timed out" if "timeout" in text or "timed out" in text else f"failed ({type(error).__name__})"


def instance_source(state: Any, api_token: str = "") -> BunkerWebInstances | None:
    """The instances of the BunkerWeb whose job cache ``state`` uses; None outside BunkerWeb.
    ``api_token`` is ``Settings.api_token`` (API_TOKEN, read by the runner)."""
    db = state.bunkerweb_db
    return BunkerWebInstances(db, api_token=api_token) if db is not None and hasattr(db, "get_instances") else None
