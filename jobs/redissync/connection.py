"""Settings → redis-py client. Nothing else in redissync builds a client.

The choices here fix what BunkerWeb's own ``get_redis_client`` gets wrong or leaves to redis-py 8's
defaults: RESP2 pinned (8.x sends ``HELLO 3``), the TLS verification setting honoured (chain *and*
hostname), sentinel credentials and TLS passed to the sentinels through ``sentinel_kwargs``, retries that
fit the timeout budget, and TCP keepalive tuned from REDIS_KEEPALIVE_IDLE.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from redis import Redis
from redis.backoff import EqualJitterBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import Connection, SSLConnection
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    ConnectionError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
)
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from .cluster_mode import CLUSTER_CODES, CLUSTER_ERRORS, cluster_sentence, explain_cluster
from .settings import Settings

RETRIES = 2  # a dropped connection or a failover is retried; a timeout never is (it would blow the budget)
KEEPALIVE_PROBES = 3
MAX_TCP_KEEPIDLE = 32767  # Linux refuses a longer TCP_KEEPIDLE (EINVAL); REDIS_KEEPALIVE_IDLE=1d is a valid setting



def _keepalive_options(idle_seconds: float) -> dict[str, Any]:
    if idle_seconds <= 0 or not hasattr(socket, "TCP_KEEPIDLE"):
        return {"socket_keepalive": idle_seconds > 0}
    idle = min(max(1, int(idle_seconds)), MAX_TCP_KEEPIDLE)
    interval = max(1, min(idle, 10))
    return {
        "socket_keepalive": True,
        "socket_keepalive_options": {
            socket.TCP_KEEPIDLE: idle,
            socket.TCP_KEEPINTVL: interval,
            socket.TCP_KEEPCNT: KEEPALIVE_PROBES,
        },
    }


def _retry(settings: Settings) -> Retry:
    # EqualJitterBackoff: redis-py's own default, present in every release BunkerWeb ships (5.2.1 lacks the others we'd pick).
    backoff = EqualJitterBackoff(base=min(0.05, settings.timeout / 10), cap=min(0.5, settings.timeout / 4))
    return Retry(backoff, RETRIES, supported_errors=(ConnectionError,))


def tls_options(settings: Settings) -> dict[str, Any]:
    """redis-py TLS keyword arguments (empty without REDIS_SSL)."""
    if not settings.ssl:
        return {}
    if not settings.ssl_verify:
        return {"ssl": True, "ssl_cert_reqs": ssl.CERT_NONE, "ssl_check_hostname": False}
    # The system store is always loaded by redis-py; SSL_CERT_FILE adds a private CA on top of it.
    return {
        "ssl": True,
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_check_hostname": True,
        "ssl_ca_certs": settings.ca_file,
    }


def _without_client_setinfo() -> dict[str, Any]:
    """Options that stop redis-py sending CLIENT SETINFO on each connection, so one least-privilege ACL rule fits
    Redis 7.0 (which rejects ``+client|setinfo``) through 8.x and ACL LOG stays clean. redis-py ≥ 7.4 reads
    ``driver_info`` (an empty one sends nothing; 7.4 ignores ``lib_name=None``); older releases ``lib_name``."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py < 7.4
        return {"lib_name": None, "lib_version": None}
    return {"driver_info": DriverInfo(name="", lib_version="")}


def _common_options(settings: Settings) -> dict[str, Any]:
    return {
        "protocol": 2,
        **_without_client_setinfo(),
        "socket_timeout": settings.timeout,
        "socket_connect_timeout": settings.timeout,
        "retry": _retry(settings),
        "health_check_interval": 0,
        **_keepalive_options(settings.keepalive_idle),
        **tls_options(settings),
    }


def node_options(settings: Settings) -> dict[str, Any]:
    """Options for data nodes (standalone server or the Sentinel-elected master)."""
    return {
        **_common_options(settings),
        "db": settings.database,
        "username": settings.username or None,
        "password": settings.password or None,
        "max_connections": settings.keepalive_pool,
        "client_name": "redissync",
    }


def sentinel_options(settings: Settings) -> dict[str, Any]:
    """Options for the sentinels themselves: their own credentials, the same TLS."""
    return {
        **_common_options(settings),
        "username": settings.sentinel_username or None,
        "password": settings.sentinel_password or None,
    }


class _Sentinel(Sentinel):
    """redis-py's Sentinel that counts, during a master lookup, the sentinels it could not reach, and hands the
    count on the :class:`MasterNotFoundError` it raises (``unreachable``), so :func:`explain` reads a fact
    instead of parsing redis-py's message."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._unreachable = 0
        for client in self.sentinels:
            client.sentinel_masters = self._counted(client.sentinel_masters)  # type: ignore[method-assign]

    def _counted(self, ask: Any) -> Any:
        def sentinel_masters() -> Any:
            try:
                return ask()
            except (ConnectionError, TimeoutError):
                self._unreachable += 1
                raise
        return sentinel_masters

    def discover_master(self, service_name: str) -> Any:
        self._unreachable = 0
        try:
            return super().discover_master(service_name)  # type: ignore[no-untyped-call]
        except MasterNotFoundError as error:
            error.unreachable = self._unreachable  # type: ignore[attr-defined]
            raise


def make_sentinel(settings: Settings) -> Sentinel:
    node = node_options(settings)
    return _Sentinel(
        [(address.host, address.port) for address in settings.sentinels],
        sentinel_kwargs=sentinel_options(settings),
        **node,
    )


def cluster_options(settings: Settings) -> dict[str, Any]:
    """Options for :class:`RedisCluster` and, through it, every node's pool: the data nodes' options without
    ``db`` (a cluster has database 0 only) and without our ``retry``: redis-py's cluster client keeps its own
    (MOVED/ASK redirects, a topology refresh after a failover, retries on a connection error)."""
    options = {key: value for key, value in node_options(settings).items() if key not in ("db", "retry", "health_check_interval")}
    return {**options, "require_full_coverage": False}


def make_cluster(settings: Settings) -> RedisCluster:
    """redis-py's cluster client from the seed nodes (REDIS_CLUSTER_NODES). Unlike the others it connects at once:
    it asks the seeds in turn for the slot map (CLUSTER SLOTS), so one answering seed is enough."""
    seeds = [ClusterNode(node.host, node.port) for node in settings.cluster_nodes]
    return RedisCluster(startup_nodes=seeds, **cluster_options(settings))


def connect(settings: Settings) -> Redis:
    """A client for the configured server, or the master the sentinels elect.

    Lazy like redis-py: the first command connects. With Sentinel, every new connection asks the
    sentinels for the master, so after a failover the next command reaches the new master.
    """
    if settings.cluster_nodes:
        return make_cluster(settings)  # type: ignore[return-value]  # the passes refuse it before connecting (runner)
    if settings.sentinels:
        master: Redis = make_sentinel(settings).master_for(settings.sentinel_master)
        return master
    return Redis(host=settings.host, port=settings.port, **node_options(settings))


def probe_connection(settings: Settings, host: str, port: int, timeout: float) -> Connection:
    """One unpooled connection with the transport of :func:`connect` (RESP2, keepalive, the same TLS trust
    rules) but no AUTH, SELECT, client name, CLIENT SETINFO or retry: the diagnosis sends and times those
    steps itself, on a data node or a sentinel, within ``timeout`` seconds per operation."""
    options = {key: value for key, value in _common_options(settings).items() if key != "retry"}
    options.update(socket_timeout=timeout, socket_connect_timeout=timeout)
    connection_class = SSLConnection if options.pop("ssl", False) else Connection
    return connection_class(host=host, port=port, retry=Retry(NoBackoff(), 0), decode_responses=True, **options)


def explain(error: BaseException, settings: Settings) -> str:
    """One actionable sentence for a redis-py error, naming the settings to check (no secrets)."""
    target = settings.target()
    text = str(error)
    cluster = settings.cluster_nodes and explain_cluster(error, target)
    if cluster:
        return cluster
    if isinstance(error, MasterNotFoundError):
        if "auth" in text.lower() or "NOAUTH" in text or "WRONGPASS" in text:
            return (
                f"the sentinels refused authentication while looking up {target}: "
                "check REDIS_SENTINEL_USERNAME/REDIS_SENTINEL_PASSWORD"
            )
        if getattr(error, "unreachable", 0):  # sentinels could not be reached (the others did not name it)
            if settings.ssl and settings.ssl_verify:
                return (
                    f"no sentinel answered for {target}: check REDIS_SENTINEL_HOSTS, REDIS_SSL and, as REDIS_SSL_VERIFY=yes, "
                    "that SSL_CERT_FILE holds the CA of the sentinels' certificates (or set REDIS_SSL_VERIFY=no)"
                )
            return f"no sentinel answered for {target}: check REDIS_SENTINEL_HOSTS, REDIS_SSL and that the sentinels run"
        return (
            f"no sentinel returned a master named '{settings.sentinel_master}' ({target}): "
            "check REDIS_SENTINEL_MASTER and REDIS_SENTINEL_HOSTS"
        )
    if isinstance(error, (AuthenticationError, AuthenticationWrongNumberOfArgsError)) or any(
        marker in text for marker in ("WRONGPASS", "NOAUTH", "invalid password", "invalid username-password")
    ):
        who = f"user '{settings.username}'" if settings.username else "the default user"
        return f"AUTH failed for {who} on {target}: check REDIS_USERNAME/REDIS_PASSWORD"
    if isinstance(error, ReadOnlyError):
        return f"{target} is a read-only replica: point REDIS_HOST at the master or use REDIS_SENTINEL_HOSTS"
    if isinstance(error, TimeoutError):
        return (
            f"{target} did not answer within REDIS_TIMEOUT ({settings.as_configured(settings.timeout)}): "
            "check REDIS_HOST/REDIS_PORT, the network, or raise REDIS_TIMEOUT"
        )
    if isinstance(error, ConnectionError):
        lowered = text.lower()
        if "certificate verify failed" in lowered or "hostname mismatch" in lowered or "ip address mismatch" in lowered:
            return (
                f"REDIS_SSL_VERIFY=yes but the certificate of {target} could not be verified ({_ssl_reason(text)}): "
                "install your CA (SSL_CERT_FILE) or set REDIS_SSL_VERIFY=no"
            )
        if "ssl" in lowered or "wrong version number" in lowered or "record layer" in lowered:
            return f"TLS handshake with {target} failed: check REDIS_SSL matches the server's port (TLS or plain)"
        if "connection reset" in lowered or "closed by server" in lowered:
            return f"{target} closed the connection: check REDIS_SSL (TLS port vs plain port) and REDIS_PORT"
        return f"cannot connect to {target}: check REDIS_HOST/REDIS_PORT and that Redis is running ({_first_line(text)})"
    if isinstance(error, CLUSTER_ERRORS) or text.split(" ", 1)[0] in CLUSTER_CODES or "cluster mode" in text:
        return cluster_sentence(target)  # "cluster mode": SELECT of a database other than 0
    if isinstance(error, ResponseError):
        command = _unknown_data_command(text)
        if command and not settings.sentinels:
            return (f"REDIS_HOST/REDIS_PORT point at {target}, which does not know {command.upper()}: "
                    "this is a Sentinel: list it in REDIS_SENTINEL_HOSTS and leave REDIS_HOST empty")
        if "DB index is out of range" in text:
            return f"REDIS_DATABASE={settings.database} does not exist on {target}: use a database below its 'databases' setting"
        if isinstance(error, OutOfMemoryError) or text.startswith("OOM"):
            return (f"{target} is full (used memory above maxmemory, maxmemory-policy noeviction) and refused a write: "
                    "free memory or raise maxmemory on the server")
        if "NOPERM" in text or isinstance(error, NoPermissionError):  # redis-py's class drops the code from the text
            return f"the ACL user lacks a permission on {target} ({_first_line(text)}): extend its ACL (see README, least-privilege ACL)"
        return f"Redis answered an error on {target}: {_first_line(text)}"
    if isinstance(error, RedisError):
        return f"Redis error on {target}: {_first_line(text)}"
    return f"unexpected error talking to {target}: {type(error).__name__}"


def scripting_refused(error: ResponseError) -> bool:
    """The user may not run scripts (ACL without ``+@scripting``: redis-py raises NoPermissionError, whose
    text has lost the ``NOPERM`` prefix) or the server has no scripting: callers take their pipelined path."""
    return isinstance(error, NoPermissionError) or "NOPERM" in str(error) or "unknown command" in str(error).lower()


# Commands every Redis or Valkey data server knows and a Sentinel does not: "unknown command" for one of
# them means REDIS_HOST points at a Sentinel (a renamed command would be another, rarer, story).
_DATA_COMMANDS = ("select", "scan", "get", "set", "mget", "type", "pttl", "ttl", "unlink", "exists", "dbsize")


def _unknown_data_command(text: str) -> str | None:
    lowered = text.lower()
    command = lowered.removeprefix("unknown command '").split("'", 1)[0] if lowered.startswith("unknown command '") else ""
    return command if command in _DATA_COMMANDS else None


def _ssl_reason(text: str) -> str:
    for reason in ("unable to get local issuer certificate", "self-signed certificate", "certificate has expired",
                   "Hostname mismatch", "IP address mismatch", "self signed certificate"):
        if reason.lower() in text.lower():
            return reason.lower()
    return "certificate verify failed"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else "no detail"
