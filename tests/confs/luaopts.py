"""Settings → the option table the Lua side reads (``confs/http/redissync-options.lua``).

BunkerWeb's generator cannot import plugin packages (plugin ``jobs/`` folders are not on its
``sys.path``), so the Jinja template computes the table itself. This module is its Python twin: the
oracle the template is tested against (the product never imports it).

Pool names carry everything that changes a connection (scheme, verify, host, port, db, a digest of the
credentials): ngx_lua hands a pooled socket to any ``connect()`` that names the same pool without a new TLS
handshake, so a socket verified for one configuration (or never verified) must not serve another. AUTH and SELECT
do not depend on it: lua-resty-redis-connector sends both on every connect, pooled or not.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redissync.net import bracketed, is_ip
from redissync.settings import UNITS_SECONDS, Address, Settings

POOL_PREFIX = "redissync"
DIGEST_SALT = b"redissync-pool-v1"
DIGEST_ITERATIONS = 10_000  # a slow digest: a pool name in a debug log must not ease guessing a password
HOST_PLACEHOLDER = "{host}"
PORT_PLACEHOLDER = "{port}"


def credentials_digest(username: str, password: str) -> str:
    """16 hex chars identifying a username/password pair ("anon" without credentials)."""
    if not username and not password:
        return "anon"
    secret = f"{username}\0{password}".encode()
    return hashlib.pbkdf2_hmac("sha256", secret, DIGEST_SALT, DIGEST_ITERATIONS).hex()[:16]


def _scheme(settings: Settings) -> tuple[str, str]:
    if not settings.ssl:
        return "redis", "plain"
    return "rediss", "verify" if settings.ssl_verify else "noverify"


def _tls(settings: Settings, host: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"ssl": settings.ssl, "ssl_verify": settings.ssl and settings.ssl_verify}
    if settings.ssl and host is not None and not is_ip(host):  # ngx_lua checks names against DNS SANs only
        options["server_name"] = host
    return options


def pool_name(settings: Settings, host: str, port: int | str) -> str:
    """Pool of a Redis data node (``{host}``/``{port}`` placeholders for a master found via Sentinel)."""
    scheme, verify = _scheme(settings)
    digest = credentials_digest(settings.username, settings.password)
    return f"{POOL_PREFIX}:{scheme}:{verify}:{host}:{port}:{settings.database}:{digest}"


def sentinel_pool_name(settings: Settings, sentinel: Address) -> str:
    scheme, verify = _scheme(settings)
    digest = credentials_digest(settings.sentinel_username, settings.sentinel_password)
    return f"{POOL_PREFIX}:sentinel:{scheme}:{verify}:{bracketed(sentinel.host)}:{sentinel.port}:{digest}"


def _sentinel_entry(settings: Settings, sentinel: Address) -> dict[str, Any]:
    options = _tls(settings, sentinel.host)
    options.update(pool=sentinel_pool_name(settings, sentinel), pool_size=settings.keepalive_pool)
    return {
        "host": bracketed(sentinel.host),
        "port": sentinel.port,
        "username": settings.sentinel_username,
        "password": settings.sentinel_password,
        "connection_options": options,
    }


def lua_options(settings: Settings) -> dict[str, Any]:
    """The table ``redissync.lua`` loads; ``connector`` is passed as is to ``resty.redis.connector.new``."""
    if not settings.enabled:
        return {"enabled": False}
    connector: dict[str, Any] = {
        "db": settings.database,
        "username": settings.username,
        "password": settings.password,
        "connect_timeout": settings.timeout_ms,
        "send_timeout": settings.timeout_ms,
        "read_timeout": settings.timeout_ms,
        "keepalive_timeout": settings.keepalive_idle_ms,
        "keepalive_poolsize": settings.keepalive_pool,
    }
    options: dict[str, Any] = {
        "enabled": True,
        "mode": settings.mode,
        "units": "seconds" if settings.units == UNITS_SECONDS else "milliseconds",
        "target": settings.target(),
        "connector": connector,
    }
    if settings.cluster_nodes:
        # Each seed node in its own pool: /redissync/ping and /redissync/stats ask every one (redissync.lua).
        options["nodes"] = [{
            "host": bracketed(node.host),
            "port": node.port,
            "connection_options": {**_tls(settings, node.host), "pool": pool_name(settings, bracketed(node.host), node.port),
                                   "pool_size": settings.keepalive_pool},
        } for node in settings.cluster_nodes]
        return options
    if settings.sentinels:
        # The master's address is only known after asking a sentinel: redissync.lua fills the placeholders.
        connector.update(
            master_name=settings.sentinel_master,
            role="master",
            sentinel_username=settings.sentinel_username,
            sentinel_password=settings.sentinel_password,
            sentinels=[_sentinel_entry(settings, sentinel) for sentinel in settings.sentinels],
            connection_options={**_tls(settings, None), "pool_size": settings.keepalive_pool},
        )
        options["master_pool"] = pool_name(settings, HOST_PLACEHOLDER, PORT_PLACEHOLDER)
        return options
    host = bracketed(settings.host)
    tls = _tls(settings, settings.host)
    connector.update(
        host=host,
        port=settings.port,
        connection_options={**tls, "pool": pool_name(settings, host, settings.port), "pool_size": settings.keepalive_pool},
    )
    return options
