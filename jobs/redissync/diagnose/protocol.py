"""The Redis-protocol half of the diagnosis: AUTH, SELECT, PING and the server's facts.

It speaks through one unpooled redis-py connection from ``connection.probe_connection`` (the transport
our jobs use) and sends AUTH and SELECT itself, so each is timed and explained on its own. Every read
gets the step's remaining budget. Error texts from the server never carry our credentials, and the
sentences built here only name users, never passwords.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from redis.connection import Connection
from redis.exceptions import AuthenticationError, ConnectionError, RedisError, ResponseError, TimeoutError

from ..cluster_mode import cluster_sentence
from ..connection import probe_connection
from ..errors import StepError
from ..settings import Settings
from .network import Endpoint
from .tls import speaks_tls

PINGS = 5
LAG_WARNING_SECONDS = 10
MEMORY_WARNING_RATIO = 0.9
Budget = Callable[[], float]


class Session:
    """One authenticated conversation with a data node (REDIS_* credentials) or a sentinel (REDIS_SENTINEL_*)."""

    def __init__(self, settings: Settings, endpoint: Endpoint):
        self.settings = settings
        self.endpoint = endpoint
        self.connection: Connection | None = None
        sentinel = endpoint.kind == "sentinel"
        self.username = settings.sentinel_username if sentinel else settings.username
        self.password = settings.sentinel_password if sentinel else settings.password
        prefix = "REDIS_SENTINEL_" if sentinel else "REDIS_"
        self.user_setting, self.password_setting = f"{prefix}USERNAME", f"{prefix}PASSWORD"

    @property
    def who(self) -> str:
        return f"user '{self.username}'" if self.username else "the default user"

    def command(self, budget: Budget, *args: Any) -> Any:
        """Send one command and wait for its reply within the step's remaining budget. ``can_read(timeout)``
        bounds the wait in every redis-py release (``read_response(timeout=…)`` exists from 8.0 only)."""
        assert self.connection is not None
        self.connection.send_command(*args, check_health=False)
        if not self.connection.can_read(timeout=budget()):
            raise TimeoutError(f"Timeout reading from {self.endpoint.host}:{self.endpoint.port}")
        return self.connection.read_response()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.disconnect()
            self.connection = None

    # -- AUTH ---------------------------------------------------------------------------------------
    def authenticate(self, budget: Budget) -> str:
        """Open the connection and AUTH (or, without credentials, check the server lets us in)."""
        self.connection = probe_connection(self.settings, self.endpoint.host, self.endpoint.port, budget())
        try:
            self.connection.connect()
            if self.password or self.username:
                credentials = (self.username, self.password) if self.username else (self.password,)
                self.command(budget, "AUTH", *credentials)
                return f"authenticated as {self.who}"
            self.command(budget, "PING")
            return f"no credentials configured ({self.password_setting} empty): the server lets anyone in"
        except (AuthenticationError, ResponseError) as error:
            if self._is_sentinel(budget):
                raise StepError(self.sentinel_sentence()) from None
            raise StepError(self._auth_sentence(str(error))) from None
        except (ConnectionError, TimeoutError) as error:
            raise StepError(self.transport_sentence(error, budget)) from None

    def _is_sentinel(self, budget: Budget) -> bool:
        """A Sentinel knows no SELECT and says so before asking for AUTH; a data server asks for AUTH first."""
        if self.endpoint.kind != "server":
            return False
        try:
            self.command(budget, "SELECT", self.settings.database)
        except ResponseError as error:
            return "unknown command" in str(error).lower()
        except RedisError:
            return False
        return False

    def sentinel_sentence(self) -> str:
        return (f"REDIS_HOST/REDIS_PORT point at {self.endpoint.address}, and this is a Sentinel: list it in "
                "REDIS_SENTINEL_HOSTS (with REDIS_SENTINEL_MASTER) and leave REDIS_HOST empty")

    def _auth_sentence(self, text: str) -> str:
        label = self.endpoint.label
        if "without any password configured" in text or "no password is set" in text:
            return (f"{self.password_setting} is set but {label} has no password for the default user: clear "
                    f"{self.password_setting}, or set {self.user_setting} if you meant an ACL user")
        if "NOAUTH" in text or "Authentication required" in text:
            return (f"{label} requires authentication but {self.password_setting} is empty: set {self.password_setting} "
                    f"(and {self.user_setting} for an ACL user)")
        if self.username:
            return (f"AUTH failed for user '{self.username}' on {label}: the user does not exist, is disabled or the "
                    f"password is wrong: check {self.user_setting}/{self.password_setting}")
        return (f"AUTH failed for the default user on {label}: the password is wrong: check {self.password_setting} "
                f"(and {self.user_setting} if the server uses ACL users)")

    def transport_sentence(self, error: BaseException, budget: Budget) -> str:
        label, where = self.endpoint.label, self.endpoint.address_settings
        if not self.settings.ssl and speaks_tls(self.endpoint, self.settings, budget()):
            return (f"REDIS_SSL=no but {label} speaks TLS: set REDIS_SSL=yes (and SSL_CERT_FILE for a private CA), "
                    f"or point {where} at the server's plain port")
        if isinstance(error, TimeoutError):
            return (f"{label} accepted the connection but did not answer within REDIS_TIMEOUT "
                    f"({self.settings.as_configured(self.settings.timeout)}): is it a Redis server? check {where}, or raise REDIS_TIMEOUT")
        return f"{label} closed the connection before answering: check {where} points at a Redis server (and REDIS_SSL)"

    # -- SELECT -------------------------------------------------------------------------------------
    def select(self, budget: Budget) -> str:
        database = self.settings.database
        try:
            self.command(budget, "SELECT", database)
        except ResponseError as error:
            raise StepError(self._select_sentence(str(error), budget)) from None
        return f"database {database}"

    def _select_sentence(self, text: str, budget: Budget) -> str:
        label, database = self.endpoint.label, self.settings.database
        if "out of range" in text:
            count = self._config_get(budget, "databases")
            have = f"it has {count} (0-{int(count) - 1})" if count and count.isdigit() else "it has fewer"
            return (f"REDIS_DATABASE={database} does not exist on {label}: {have}: set REDIS_DATABASE to one of them, "
                    "or raise 'databases' in redis.conf")
        if "cluster mode" in text:
            return cluster_sentence(self.endpoint.label)
        if "unknown command" in text.lower():
            return self.sentinel_sentence()
        return f"SELECT {database} failed on {label} ({text.splitlines()[0][:160]}): check REDIS_DATABASE"

    def _config_get(self, budget: Budget, name: str) -> str | None:
        try:
            reply = self.command(budget, "CONFIG", "GET", name)
        except RedisError:
            return None  # an ACL user may not have CONFIG: the facts then say "unknown"
        return str(reply[1]) if isinstance(reply, list) and len(reply) == 2 else None

    # -- PING ---------------------------------------------------------------------------------------
    def ping(self, budget: Budget, count: int = PINGS) -> dict[str, float]:
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            self.command(budget, "PING")
            timings.append((time.perf_counter() - started) * 1000)
        return {"min": round(min(timings), 3), "median": round(statistics.median(timings), 3), "max": round(max(timings), 3)}

    # -- server facts -------------------------------------------------------------------------------
    def facts(self, budget: Budget) -> tuple[dict[str, Any], dict[str, str]]:
        info = parse_info(str(self.command(budget, "INFO")))
        facts = facts_from_info(info, self._config_get(budget, "save"), self.settings.database)
        if facts["maxclients"] is None:  # INFO says it from Redis 7.0 on; before, CONFIG GET if the ACL allows it
            facts["maxclients"] = _whole(self._config_get(budget, "maxclients"))
        return facts, info


def _whole(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def facts_from_info(info: dict[str, str], save: str | None, database: int) -> dict[str, Any]:
    """What the diagnosis reports about a server, from its INFO and ``CONFIG GET save`` (None: not allowed)."""
    keyspace = parse_fields(info.get(f"db{database}", ""))
    facts: dict[str, Any] = {
        **server_identity(info),
        "cluster": info.get("cluster_enabled") == "1",
        "role": info.get("role"),
        "uptime_s": int(info.get("uptime_in_seconds", 0)),
        "used_memory": int(info.get("used_memory", 0)),
        "used_memory_human": info.get("used_memory_human"),
        "maxmemory": int(info.get("maxmemory", 0)),
        "maxmemory_human": info.get("maxmemory_human"),
        "maxmemory_policy": info.get("maxmemory_policy"),
        "persistence": {"rdb": None if save is None else bool(save.strip()), "aof": info.get("aof_enabled") == "1"},
        "connected_clients": int(info.get("connected_clients", 0)),
        "maxclients": _whole(info.get("maxclients")),
        "database": database,
        "keys": int(keyspace.get("keys", 0)),
        "expires": int(keyspace.get("expires", 0)),
        "replicas": replicas_from_info(info),
    }
    if facts["role"] != "master":
        facts["master"] = f"{info.get('master_host')}:{info.get('master_port')}"
    return facts


def server_identity(info: dict[str, str]) -> dict[str, str]:
    """The server as users know it, from whichever INFO fields it has: Valkey keeps ``redis_version:7.2.4`` as a
    fixed compatibility value, names itself in ``server_name`` and ``valkey_version``, and says ``server_mode``
    where Redis says ``redis_mode`` (redissync.lua's ``server_of`` applies the same rule)."""
    name = info.get("server_name") or "redis"
    version = info.get(f"{name}_version") or info.get("redis_version") or "unknown"
    return {"server": f"{name.capitalize()} {version}", "version": version,
            "mode": info.get("redis_mode") or info.get("server_mode") or "standalone"}


def parse_info(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def parse_fields(value: str) -> dict[str, str]:
    """``keys=1,expires=0`` → dict."""
    return dict(item.split("=", 1) for item in value.split(",") if "=" in item)


def replicas_from_info(info: dict[str, str]) -> list[dict[str, Any]]:
    replicas = []
    for index in range(int(info.get("connected_slaves", 0) or 0)):
        fields = parse_fields(info.get(f"slave{index}", ""))
        if fields:
            replicas.append({"address": f"{fields.get('ip')}:{fields.get('port')}", "state": fields.get("state"),
                             "offset": int(fields.get("offset", 0)), "lag_s": int(fields.get("lag", 0))})
    return replicas


def persistence_text(persistence: dict[str, bool | None]) -> str:
    parts = [name for name in ("rdb", "aof") if persistence.get(name)]
    if parts:
        return "persistence " + "+".join(parts)
    return "persistence unknown (no CONFIG permission)" if persistence.get("rdb") is None and not persistence.get("aof") \
        else "persistence off"


def facts_summary(facts: dict[str, Any]) -> str:
    limit = f"of maxmemory {facts['maxmemory_human']}" if facts["maxmemory"] else "(no maxmemory)"
    return (f"{facts['server']} {facts['mode']} {facts['role']}, up {facts['uptime_s']} s, memory "
            f"{facts['used_memory_human']} {limit}, policy {facts['maxmemory_policy']}, {persistence_text(facts['persistence'])}, "
            f"{facts['connected_clients']} client(s), {facts['keys']} key(s) in db {facts['database']}")


def facts_warnings(endpoint: Endpoint, facts: dict[str, Any]) -> list[str]:
    warnings = []
    if facts["maxmemory"] and facts["maxmemory_policy"] == "noeviction":
        warnings.append(f"{endpoint.label} has maxmemory {facts['maxmemory_human']} with maxmemory-policy noeviction: once "
                        "full it refuses every write (new bans, sessions, metrics): keep used memory well below maxmemory (an "
                        "evicting policy would drop bans instead)")
    if facts["maxmemory"] and facts["used_memory"] > MEMORY_WARNING_RATIO * facts["maxmemory"]:
        warnings.append(f"{endpoint.label} uses {facts['used_memory_human']} of its {facts['maxmemory_human']} maxmemory")
    for replica in facts["replicas"]:
        if replica["state"] != "online" or replica["lag_s"] > LAG_WARNING_SECONDS:
            warnings.append(f"replica {replica['address']} of {endpoint.label} is lagging (state {replica['state']}, "
                            f"last ack {replica['lag_s']} s ago): a failover now could lose recent bans")
    return warnings
