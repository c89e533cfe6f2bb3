"""Stand-in BunkerWeb instances: a local ban datastore behind a real HTTP API on a random loopback port.

Each reproduces what the bans pass sees of a real instance (BunkerWeb 1.6's ``src/bw/lua/bunkerweb/utils.lua``
and ``api.lua``):
- ``utils.add_ban`` writes the local datastore first, then Redis; if Redis is unreachable the ban stays
  local (:meth:`StandInInstance.ban`);
- ``utils.is_banned`` looks locally, then in Redis, and caches a Redis hit locally for ``min(ttl, 30)`` s,
  permanent bans included (:meth:`StandInInstance.is_banned`);
- ``utils.remove_ban`` deletes locally and in Redis; a global unban lifts every scope of the IP
  (:meth:`StandInInstance.unban`, ``POST /unban``);
- ``GET /bans`` answers the wire shape of ``api.lua`` after ``do_api_call``, per release (:attr:`StandInInstance.release`):
  - ``"1.6"`` (1.6.0–1.6.15): ``{"status": "success", "msg": "success", "data": [{ip, reason, service, date,
    country, ban_scope, exp, permanent}, …]}``, and ``{"status": "success", "msg": ""}`` (no ``data``) when there
    is no ban; ``exp`` = floor of the datastore TTL, 0 for a permanent ban;
  - ``"1.6.16"`` (api.lua and banlease.lua of 1.6.16~rc4): every ``bans_ip_``/``bans_service_`` key and every
    CrowdSec lease ``bans_cs_ip_``/``bans_cs_service_`` key, rows ``banlease.ban_row``: the fields above plus
    ``kind`` (``"ban"`` or ``"crowdsec_lease"``) and ``reason_data``; empty answer as in 1.6;
  - ``"1.7"`` (branch 1.7, commit e2d20692, ``api.lua`` + ``ban_sync.lua``): rows add ``expires_at`` (the stored
    value's, else snapshot time + floor(ttl); 0 when permanent; ``exp`` = expires_at − snapshot time), expired
    rows are left out, the top level adds ``generation_epoch`` (one more per read) and ``snapshot_time``, and
    ``do_api_call`` tests for a table first, so no ban is ``"data": {}`` with ``"msg": "success"``. Leases are
    not listed there (that branch's ``GET /bans`` matches ``bans_ip_``/``bans_service_`` only).
    :attr:`StandInInstance.page_size` adds what later 1.7 versions add and that commit lacks: ``total``, and
    ``?start=&length=`` paging (here an answer without them holds the first ``page_size`` rows);
- :meth:`StandInInstance.lease` is ``banlease.promote_lease``: the lease in the local datastore and in Redis
  (``SET … EX ttl``) with its fence ``cs_epoch_<ip>`` (``<hex incarnation>:1``, ``EX 604800``).

:class:`StandInInstancesDatabase` lists them the way BunkerWeb's ``Database.get_instances()`` does (rows with
``hostname``, ``port``, ``server_name``).
"""

from __future__ import annotations

import http.client
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redissync.keys import BanKey, parse_ban_key

BAN_LOCAL_CACHE_TTL = 30
RELEASES = ("1.6", "1.6.16", "1.7")
LEASE_EPOCH_TTL = 604_800  # banlease.lua's PROMOTE_SCRIPT: the Redis fence lives 7 days


def lease_key(ip: str, service: str | None = None) -> str:
    """``banlease.lease_key``."""
    return f"bans_cs_service_{service}_ip_{ip}" if service else f"bans_cs_ip_{ip}"


def _listed_key(key: str) -> tuple[str, str, str | None] | None:
    """``(kind, ip, service)`` of a datastore key ``GET /bans`` lists (1.6.16's ``parse_ban_key`` in api.lua)."""
    for prefix, kind in (("bans_cs_", "crowdsec_lease"), ("bans_", "ban")):
        if key.startswith(prefix):
            parsed = parse_ban_key("bans_" + key[len(prefix):])
            return (kind, parsed.ip, parsed.service) if parsed else None
    return None


class StandInInstance:
    def __init__(self, name: str, redis_port: int, clock: Callable[[], float] = time.time, release: str = "1.6"):
        assert release in RELEASES, release
        self.name = name
        self.redis_port = redis_port
        self.clock = clock
        self.release = release
        self.page_size: int | None = None  # 1.7 later: answers hold at most this many rows, with "total"
        self.generation_epoch = 0
        self.store: dict[str, tuple[str, float | None]] = {}  # key → (value, expires at or None)
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds before GET /bans answers (a slow instance)
        self.raw_answer: tuple[int, bytes] | None = None  # (status, body) instead of the real answer
        self.requests: list[str] = []
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self.figures: dict[str, str] = {}  # job → the section it last POSTed (POST /redissync/figures/<job>)
        self._release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name=f"stand-in-{name}", daemon=True)

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> StandInInstance:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # a delayed answer stops waiting
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def row(self) -> dict:
        """This instance as a row of BunkerWeb's ``bw_instances`` table (``Database.get_instances()``)."""
        return {"hostname": "127.0.0.1", "name": self.name, "port": self.port, "server_name": "bwapi"}

    def _redis(self) -> redis.Redis:
        # No retries: an unreachable Redis fails the write at once, as lua-resty-redis does.
        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=1, socket_connect_timeout=1,
                           retry=Retry(NoBackoff(), 0))

    # utils.lua -----------------------------------------------------------------------------------
    def _local(self, key: str) -> str | None:
        with self.lock:
            value, expires = self.store.get(key, (None, None))
            if value is not None and expires is not None and expires <= self.clock():
                del self.store[key]
                return None
            return value

    def ban(self, ip: str, service: str | None = None, ttl: int | None = 86400, reason: str = "manual") -> bool:
        """``utils.add_ban``: local first, then Redis. Returns whether Redis took it."""
        key = BanKey(ip, service).key
        stored = {"reason": reason, "service": service or "unknown", "date": int(self.clock()), "country": "local",
                  "ban_scope": "service" if service else "global", "reason_data": {}, "permanent": not ttl}
        if self.release == "1.7":  # 1.7's utils.add_ban stores the absolute expiry too
            stored["expires_at"] = int(self.clock()) + ttl if ttl else 0
        value = json.dumps(stored)
        with self.lock:
            self.store[key] = (value, self.clock() + ttl if ttl else None)
        try:
            with self._redis() as client:
                client.set(key, value, ex=ttl or None)
            return True
        except redis.RedisError:
            return False

    def is_banned(self, ip: str, service: str | None = None) -> bool:
        """``utils.is_banned``: local datastore, then Redis (a hit is cached for ``min(ttl, 30)`` s)."""
        keys = [BanKey(ip).key] + ([BanKey(ip, service).key] if service else [])
        for key in keys:
            if self._local(key) is not None:
                return True
        with self._redis() as client:
            for key in keys:
                value, ttl = client.get(key), client.ttl(key)
                if value is not None:
                    cache = BAN_LOCAL_CACHE_TTL if ttl < 0 else min(ttl, BAN_LOCAL_CACHE_TTL)
                    with self.lock:
                        self.store[key] = (value.decode(), self.clock() + cache)
                    return True
        return False

    def unban(self, ip: str, service: str | None = None) -> None:
        """``utils.remove_ban``: local and Redis; a global unban lifts the IP's service bans too."""
        with self.lock:
            doomed = [key for key in self.store if (parsed := parse_ban_key(key)) and parsed.ip == ip
                      and (service is None or parsed.service == service)]
            for key in doomed:
                del self.store[key]
        with self._redis() as client:
            keys = [BanKey(ip, service).key]
            if service is None:
                keys += [key for key in client.scan_iter(match=f"bans_service_*_ip_{ip}")]
            client.delete(*keys)

    def lease(self, ip: str, service: str | None = None, ttl: int = 60, decision_id: int = 1) -> str:
        """``banlease.promote_lease`` (1.6.16~rc4, CROWDSEC_BAN_REFRESH): a CrowdSec lease, locally and in Redis,
        fenced by ``cs_epoch_<ip>``. Returns the lease key."""
        key = lease_key(ip, service)
        reason_data = {"version": 1, "source": "lapi", "lease": True, "remediation": "ban",
                       "decisions": [{"id": decision_id, "origin": "crowdsec", "scenario": "crowdsecurity/http-probing",
                                      "type": "ban", "scope": "Ip", "value": ip, "remediation": "ban",
                                      "expires_at": int(self.clock()) + 4 * 3600}]}
        value = json.dumps({"reason": "crowdsec", "service": service or "unknown", "date": int(self.clock()),
                            "country": "local", "ban_scope": "service" if service else "global",
                            "reason_data": reason_data, "permanent": False, "kind": "crowdsec_lease", "lease_epoch": 1})
        with self._redis() as client:
            client.set(f"cs_epoch_{ip}", f"{secrets.token_hex(16)}:1", ex=LEASE_EPOCH_TTL, nx=True)
            client.set(key, value, ex=ttl)
        with self.lock:
            self.store[key] = (value, self.clock() + ttl)
        return key

    def _rows(self, snapshot: float) -> list[dict]:
        """Every row this release's ``GET /bans`` lists, read at ``snapshot``."""
        data = []
        with self.lock:
            keys = list(self.store)
        for key in keys:
            listed, value = _listed_key(key), self._local(key)
            if listed is None or value is None or (listed[0] != "ban" and self.release != "1.6.16"):
                continue
            kind, ip, service = listed
            ban = json.loads(value)
            expires = self.store.get(key, (None, None))[1]
            ttl = 0 if expires is None else math.floor(expires - snapshot)
            permanent = ban.get("permanent", False)
            row = {"ip": ip, "reason": ban["reason"], "service": service or ban.get("service"), "date": ban.get("date"),
                   "country": ban.get("country"), "ban_scope": "service" if service else "global",
                   "exp": 0 if permanent else ttl, "permanent": permanent}
            if self.release == "1.6.16":
                row.update(kind=kind, reason_data=ban.get("reason_data") if isinstance(ban.get("reason_data"), dict) else {})
            elif self.release == "1.7":
                expires_at = 0 if permanent else ban.get("expires_at") or int(snapshot) + ttl
                if not permanent and not (ttl > 0 and expires_at > snapshot):
                    continue
                row.update(exp=0 if permanent else max(math.floor(expires_at - snapshot), 0), expires_at=expires_at,
                           reason_data=ban.get("reason_data") or {})
            data.append(row)
        return data

    def listing(self, start: int | None = None, length: int | None = None) -> dict:
        """The ``GET /bans`` answer, as this release's ``api.lua`` + ``do_api_call`` put it on the wire."""
        snapshot = int(self.clock()) if self.release == "1.7" else self.clock()
        data = self._rows(snapshot)
        answer: dict = {"status": "success", "msg": "success", "data": data}
        if self.release == "1.7":
            self.generation_epoch += 1
            answer.update(generation_epoch=self.generation_epoch, snapshot_time=snapshot)
            if self.page_size is not None:
                first = start or 0
                answer.update(total=len(data), data=data[first:first + (length or self.page_size)])
            if not answer["data"]:
                answer["data"] = {}  # cjson encodes an empty table as an object
        elif not data:
            return {"status": "success", "msg": ""}
        return answer

    # HTTP ----------------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        instance = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                instance.requests.append(f"GET {self.path} Host={self.headers.get('Host')}")
                instance.authorizations.append(self.headers.get("Authorization"))
                url = urlsplit(self.path)
                if url.path != "/bans":
                    return self._answer(404, b'{"status": "error", "msg": "not found"}')
                query = {name: int(values[0]) for name, values in parse_qs(url.query).items() if name in ("start", "length")}
                body = json.dumps(instance.listing(**query)).encode()  # the snapshot, then the (slow) transit
                if instance.delay:
                    instance._release.wait(instance.delay)
                if instance.raw_answer is not None:
                    return self._answer(*instance.raw_answer)
                self._answer(200, body)

            def do_POST(self) -> None:
                instance.requests.append(f"POST {self.path}")
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.startswith("/redissync/figures/"):  # a job's section (redissync.lua stores it)
                    instance.figures[self.path.rsplit("/", 1)[1]] = raw.decode()
                    return self._answer(200, b'{"status": "success", "msg": "stored"}')
                body = json.loads(raw or b"{}")
                if self.path != "/unban" or "ip" not in body:
                    return self._answer(404, b'{"status": "error", "msg": "not found"}')
                service = body.get("service") if body.get("ban_scope") == "service" else None
                instance.unban(body["ip"], service)
                self._answer(200, json.dumps({"status": "success", "msg": f"ip {body['ip']} unbanned"}).encode())

        return Handler


class StandInInstancesDatabase:
    """``Database.get_instances()`` over stand-in instances (what ``Job.db`` gives a job)."""

    def __init__(self, instances: list[StandInInstance], extra_rows: list[dict] | None = None):
        self.instances = instances
        self.extra_rows = extra_rows or []

    def get_instances(self) -> list[dict]:
        return [instance.row() for instance in self.instances] + self.extra_rows


def unban_everywhere(instances: list[StandInInstance], ip: str, service: str | None = None) -> None:
    """BunkerWeb's UI/CLI unban: ``POST /unban`` to every instance (here: to each one given)."""
    for instance in instances:
        body = json.dumps({"ip": ip, "ban_scope": "service" if service else "global", "service": service}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=5)
        connection.request("POST", "/unban", body=body, headers={"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
        connection.close()
