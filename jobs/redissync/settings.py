"""Environment → frozen, validated :class:`Settings`.

Two sources of truth, both data: ``redis_settings.json`` (next to this module) is redissync's own contract
for the sixteen REDIS_* settings (defaults in seconds, strict regexes, the expected form in ``help``);
plugin.json declares only what BunkerWeb registers for us, the ``REDISSYNC_*`` switches. BunkerWeb's core
``redis`` plugin owns the REDIS_* names in every release, so they must never appear in plugin.json.

The units rule, one everywhere: inside BunkerWeb (core ``redis`` plugin.json present) a bare REDIS_TIMEOUT or
REDIS_KEEPALIVE_IDLE is core's milliseconds, with core's defaults (``1s``/``30s`` from 1.6.16); outside it, the
seed table's seconds. Either way a time suffix sets the unit (:mod:`.durations`, BunkerWeb's rule), and the
values must also pass our stricter regexes: a value core accepts but we do not (say REDIS_DATABASE=16) is a
:class:`Problem` naming the setting, never a crash. Pairs BunkerWeb refuses together (REDIS_CLUSTER_NODES with
REDIS_SENTINEL_HOSTS, or with a database other than 0) are a :class:`Conflict`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .core_settings import CORE_NAMES
from .durations import BARE_MS, BARE_SECONDS, MAX_MS, parse_ms
from .errors import SettingsError
from .net import bracketed, host_port
from .redaction import mask_value

REDIS_SETTINGS_JSON = Path(__file__).resolve().parent / "redis_settings.json"
PLUGIN_JSON = Path(__file__).resolve().parents[2] / "plugin.json"
DEFAULT_CORE_DIR = "/usr/share/bunkerweb/core"
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_CLUSTER_PORT = 6379  # BunkerWeb's rediskeys/redis.lua default for a REDIS_CLUSTER_NODES item without a port
DEFAULT_MASTER = "mymaster"
SECRET_SETTINGS = frozenset({"REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"})
DURATION_SETTINGS = ("REDIS_TIMEOUT", "REDIS_KEEPALIVE_IDLE")

UNITS_SECONDS = "seconds"
UNITS_CORE_MS = "milliseconds (owned by BunkerWeb's core redis plugin)"


def _read_json(path: str) -> dict[str, Any]:
    """Parsed once per version of the file: this module lives as long as BunkerWeb's scheduler (it re-executes
    only the job files), and an upgrade or BunkerWeb's own plugin.json may change meanwhile."""
    return _parse_json(path, os.stat(path).st_mtime_ns)


@lru_cache(maxsize=8)
def _parse_json(path: str, _version: int) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        definition: dict[str, Any] = json.load(handle)
    return definition


def plugin_definition() -> dict[str, Any]:
    """Our plugin.json, parsed once per version of the file."""
    return _read_json(str(PLUGIN_JSON))


def redis_setting_definitions() -> dict[str, dict[str, Any]]:
    """The seed table of the sixteen REDIS_* settings (same shape as plugin.json's ``settings``)."""
    return _read_json(str(REDIS_SETTINGS_JSON))


def own_setting_definitions() -> dict[str, dict[str, Any]]:
    """The settings redissync registers in BunkerWeb: its ``REDISSYNC_*`` switches."""
    settings: dict[str, dict[str, Any]] = plugin_definition()["settings"]
    return settings


@dataclass(frozen=True)
class Address:
    """One item of REDIS_SENTINEL_HOSTS or REDIS_CLUSTER_NODES."""

    host: str
    port: int

    def __str__(self) -> str:
        return host_port(self.host, self.port)


@dataclass(frozen=True)
class Problem:
    """One bad setting: which one, the value (secrets masked) and what was expected."""

    setting: str
    value: str
    expected: str

    def __str__(self) -> str:
        return f"{self.setting}={self.value!r} is invalid: expected {self.expected}"


@dataclass(frozen=True)
class Conflict:
    """Two valid settings BunkerWeb refuses together (its Lua then uses no Redis at all): ``setting`` is the
    one that clashes with cluster mode, the sentence names both, in BunkerWeb's words (rediskeys.lua)."""

    setting: str
    sentence: str

    def __str__(self) -> str:
        return self.sentence


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    host: str = ""
    port: int = 6379
    database: int = 0
    ssl: bool = False
    ssl_verify: bool = True
    timeout: float = 5.0  # seconds, whatever unit the owner uses
    keepalive_idle: float = 300.0  # seconds
    keepalive_pool: int = 3
    username: str = ""
    password: str = field(default="", repr=False)
    sentinels: tuple[Address, ...] = ()
    sentinel_username: str = ""
    sentinel_password: str = field(default="", repr=False)
    sentinel_master: str = DEFAULT_MASTER
    cluster_nodes: tuple[Address, ...] = ()  # REDIS_CLUSTER_NODES: not blank = Redis Cluster mode (BunkerWeb 1.6.16+)
    ca_file: str | None = None  # SSL_CERT_FILE: extra trusted CAs (private CA)
    units: str = UNITS_SECONDS
    use_redissync: bool = True  # USE_REDISSYNC: our jobs run (and BunkerWeb shows our page)
    restore_bans: bool = True  # REDISSYNC_RESTORE_BANS
    unban_clears_bad_behavior: bool = True  # REDISSYNC_UNBAN_CLEARS_BAD_BEHAVIOR
    notices: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    core: tuple[tuple[str, str], ...] = ()  # the raw core settings our jobs honour (core_settings.py validates them)
    api_token: str = field(default="", repr=False)  # API_TOKEN: BunkerWeb's instance API token (bans' second source)

    @property
    def core_env(self) -> dict[str, str]:
        return dict(self.core)

    @property
    def mode(self) -> str:
        if self.cluster_nodes:
            return "cluster"
        return "sentinel" if self.sentinels else "standalone"

    @property
    def timeout_ms(self) -> int:
        return max(1, round(self.timeout * 1000))

    @property
    def keepalive_idle_ms(self) -> int:
        return round(self.keepalive_idle * 1000)

    @property
    def in_milliseconds(self) -> bool:
        return self.units != UNITS_SECONDS

    def as_configured(self, seconds: float, with_unit: bool = True) -> str:
        """A duration as the user writes it: in the owner's unit (``1500 ms`` inside BunkerWeb, ``1.5 s`` outside)."""
        value, unit = (f"{seconds * 1000:g}", "ms") if self.in_milliseconds else (f"{seconds:g}", "s")
        return f"{value} {unit}" if with_unit else value

    def target(self) -> str:
        """Where we connect, for messages (never carries credentials)."""
        if self.cluster_nodes:
            return f"{'TLS ' if self.ssl else ''}cluster via seed nodes " + " ".join(map(str, self.cluster_nodes))
        if self.sentinels:
            return f"master '{self.sentinel_master}' via sentinels " + " ".join(map(str, self.sentinels))
        return f"{'rediss' if self.ssl else 'redis'}://{bracketed(self.host)}:{self.port}/{self.database}"

    def public(self) -> dict[str, Any]:
        """A secret-free summary for reports, the UI and logs."""
        return {
            "mode": self.mode,
            "target": self.target(),
            "database": self.database,
            "tls": self.ssl,
            "tls_verify": self.ssl and self.ssl_verify,
            "username": self.username or None,
            "password_set": bool(self.password),
            "sentinel_master": self.sentinel_master if self.sentinels else None,
            "cluster_nodes": [str(node) for node in self.cluster_nodes],
            "sentinel_username": self.sentinel_username or None,
            "sentinel_password_set": bool(self.sentinel_password),
            "timeout_s": self.timeout,
            "keepalive_idle_s": self.keepalive_idle,
            "keepalive_pool": self.keepalive_pool,
            "units": self.units,
            "restore_bans": self.restore_bans,
            "unban_clears_bad_behavior": self.unban_clears_bad_behavior,
        }


def api_token(env: Mapping[str, str]) -> str:
    """API_TOKEN: BunkerWeb's instance API token (read even when the REDIS_* settings are wrong, so a failed
    run still reaches the instances with its figures)."""
    return env.get("API_TOKEN", "")


def core_redis_plugin(env: Mapping[str, str]) -> dict[str, Any] | None:
    """BunkerWeb's core ``redis`` plugin.json when installed (it then owns the REDIS_* names)."""
    core_dir = env.get("REDISSYNC_BW_CORE_DIR") or DEFAULT_CORE_DIR
    path = Path(core_dir, "redis", "plugin.json")
    try:
        definition = _read_json(str(path))
    except (OSError, ValueError):
        return None
    return definition if "REDIS_TIMEOUT" in definition.get("settings", {}) else None


def _expected(definition: dict[str, Any]) -> str:
    return str(definition["help"]).rstrip(".")


def parse_addresses(value: str, default_port: int) -> tuple[Address, ...]:
    """``host[:port]`` items separated by spaces; ``[v6]:port`` for IPv6. Assumes a regex-valid value."""
    addresses = []
    for item in value.split():
        match = re.fullmatch(r"\[(?P<v6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<host>[^:]+)(?::(?P<port>\d+))?", item)
        assert match is not None  # the setting's regex accepted the value
        host = match.group("v6") or match.group("host")
        port = match.group("p6") or match.group("port")
        addresses.append(Address(host, int(port) if port else default_port))
    return tuple(addresses)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Validate an environment (``os.environ`` inside BunkerWeb) into :class:`Settings`.

    Raises :class:`SettingsError` listing *every* bad setting at once, so a user fixes them in one go.
    """
    env = os.environ if env is None else env
    definitions = {**redis_setting_definitions(), **own_setting_definitions()}
    core = core_redis_plugin(env)
    owner_defaults = {name: d["default"] for name, d in definitions.items()}
    if core:
        owner_defaults.update({name: d["default"] for name, d in core["settings"].items() if name in owner_defaults})
    raw = {name: str(env.get(name, owner_defaults[name])) for name in definitions}
    problems: list[Problem | Conflict] = []
    notices: list[str] = []
    warnings: list[str] = []

    raw["REDIS_SENTINEL_HOSTS"] = raw["REDIS_SENTINEL_HOSTS"].strip()
    raw["REDIS_CLUSTER_NODES"] = raw["REDIS_CLUSTER_NODES"].strip()  # blank = not cluster mode, as BunkerWeb reads it
    if not raw["REDIS_SENTINEL_MASTER"].strip():
        # BunkerWeb's core plugin defaults the master to "": only worth a notice when sentinels are used.
        if raw["REDIS_SENTINEL_HOSTS"]:
            notices.append(f"REDIS_SENTINEL_MASTER is empty: using the default master name '{DEFAULT_MASTER}'")
        raw["REDIS_SENTINEL_MASTER"] = DEFAULT_MASTER

    bare_unit = BARE_MS if core else BARE_SECONDS
    durations_ms = {name: parse_ms(raw[name], bare_unit) for name in DURATION_SETTINGS}
    for name, definition in definitions.items():
        # fullmatch, not BunkerWeb's re.search: "$" would let a trailing newline through.
        if not re.fullmatch(definition["regex"], raw[name]):
            problems.append(Problem(name, mask_value(name in SECRET_SETTINGS, raw[name]), _expected(definition)))
        elif name in durations_ms and durations_ms[name] is None:
            problems.append(Problem(name, raw[name], f"at most {MAX_MS // 1000}s (about 31 years)"))
    host = raw["REDIS_HOST"]
    enabled = raw["USE_REDIS"] == "yes"
    if enabled and not host and not raw["REDIS_SENTINEL_HOSTS"] and not raw["REDIS_CLUSTER_NODES"]:
        problems.append(Problem(
            "REDIS_HOST", "", "a Redis hostname or IP when USE_REDIS=yes (or set REDIS_SENTINEL_HOSTS or REDIS_CLUSTER_NODES)"))
    problems.extend(_cluster_conflicts(raw, {problem.setting for problem in problems}))
    if problems:
        raise SettingsError(problems)

    ssl = raw["REDIS_SSL"] == "yes"
    # Only when verification was *asked for*: our default is yes, and every plain setup would warn.
    if raw["REDIS_SSL_VERIFY"] == "yes" != owner_defaults["REDIS_SSL_VERIFY"] and not ssl and enabled:
        warnings.append("REDIS_SSL_VERIFY=yes has no effect without REDIS_SSL=yes: the connection is not encrypted")
    timeout_ms, idle_ms = durations_ms["REDIS_TIMEOUT"], durations_ms["REDIS_KEEPALIVE_IDLE"]
    assert timeout_ms is not None and idle_ms is not None  # an out-of-range duration is one of the problems above
    return Settings(
        enabled=enabled,
        host=host,
        port=int(raw["REDIS_PORT"]),
        database=int(raw["REDIS_DATABASE"]),
        ssl=ssl,
        ssl_verify=raw["REDIS_SSL_VERIFY"] == "yes",
        timeout=timeout_ms / 1000,
        keepalive_idle=idle_ms / 1000,
        keepalive_pool=int(raw["REDIS_KEEPALIVE_POOL"]),
        username=raw["REDIS_USERNAME"],
        password=raw["REDIS_PASSWORD"],
        sentinels=parse_addresses(raw["REDIS_SENTINEL_HOSTS"], DEFAULT_SENTINEL_PORT),
        sentinel_username=raw["REDIS_SENTINEL_USERNAME"],
        sentinel_password=raw["REDIS_SENTINEL_PASSWORD"],
        sentinel_master=raw["REDIS_SENTINEL_MASTER"],
        cluster_nodes=parse_addresses(raw["REDIS_CLUSTER_NODES"], DEFAULT_CLUSTER_PORT),
        ca_file=env.get("SSL_CERT_FILE") or None,
        units=UNITS_CORE_MS if core else UNITS_SECONDS,
        use_redissync=raw["USE_REDISSYNC"] == "yes",
        restore_bans=raw["REDISSYNC_RESTORE_BANS"] == "yes",
        unban_clears_bad_behavior=raw["REDISSYNC_UNBAN_CLEARS_BAD_BEHAVIOR"] == "yes",
        notices=tuple(notices),
        warnings=tuple(warnings),
        core=tuple((name, str(env[name])) for name in CORE_NAMES if name in env),
        api_token=api_token(env),
    )


def _cluster_conflicts(raw: Mapping[str, str], invalid: set[str]) -> list[Conflict]:
    """What BunkerWeb refuses with REDIS_CLUSTER_NODES (1.6.16~rc3, rediskeys.lua), checked on valid values only."""
    if not raw["REDIS_CLUSTER_NODES"] or "REDIS_CLUSTER_NODES" in invalid:
        return []
    conflicts = []
    if raw["REDIS_SENTINEL_HOSTS"] and "REDIS_SENTINEL_HOSTS" not in invalid:
        conflicts.append(Conflict("REDIS_SENTINEL_HOSTS", "REDIS_CLUSTER_NODES and REDIS_SENTINEL_HOSTS are both set, remove one "
                                  "(BunkerWeb refuses the pair and then uses no Redis at all)"))
    if "REDIS_DATABASE" not in invalid and raw["REDIS_DATABASE"] != "0":
        conflicts.append(Conflict("REDIS_DATABASE", f"REDIS_CLUSTER_NODES requires REDIS_DATABASE 0 (got {raw['REDIS_DATABASE']}): "
                                  "a Redis Cluster has database 0 only; set REDIS_DATABASE=0"))
    return conflicts
