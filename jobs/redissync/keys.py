"""BunkerWeb's Redis key formats, parsed and built in one place (docs/bunkerweb-data.md), and the table
of redissync's own keys (:data:`OWN_KEYS`: name, type, owning pass).

Everything BunkerWeb writes lives in one database with no global prefix, so every scan uses one of the
MATCH patterns below, and every parser returns ``None`` for a key that only *looks* like ours (an IP
that is not an IP, a binary name): callers count those as malformed instead of crashing.

In Redis Cluster mode (REDIS_CLUSTER_NODES, BunkerWeb 1.6.16~rc3's ``rediskeys.lua``) BunkerWeb names the keys a
script touches together with one hash tag, so they share a slot: ``bans_ip_{<ip>}``,
``bans_service_<escaped service>_ip_{<ip>}``, ``plugin_bad_behavior_{<ip>}``,
``plugin_bad_behavior_<escaped service>_{<ip>}``, ``{requests}`` and ``{requests}:facet:<field>``. Parsers read both
the historical names and these; builders take ``cluster`` and write only the current mode's names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from .net import is_ip

# SCAN MATCH patterns
BAD_BEHAVIOR_PATTERN = "plugin_bad_behavior_*"
SESSION_PATTERN = "sessions_:*"
UI_SESSION_PATTERN = "bunkerweb_ui_session:*"

# Redis Cluster: the hash-tag escaping of the text outside the tag (rediskeys.lua: "%" first, then the braces)
_TAG_ESCAPES = (("%", "%25"), ("{", "%7B"), ("}", "%7D"))
_TAG_UNESCAPE = re.compile("%25|%7B|%7D")
REQUESTS_KEY = "requests"  # BunkerWeb's blocked-requests list (docs/bunkerweb-data.md §metrics)
CLUSTER_REQUESTS_KEY = "{requests}"


def escape_tag(text: str) -> str:
    """Text outside a hash tag, escaped as BunkerWeb escapes it (no brace left to start another tag)."""
    for raw, escaped in _TAG_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def unescape_tag(text: str) -> str:
    """The inverse of :func:`escape_tag` (one pass, left to right: ``%257B`` is ``%7B``, not ``{``)."""
    return _TAG_UNESCAPE.sub(lambda match: {"%25": "%", "%7B": "{", "%7D": "}"}[match.group()], text)


def requests_key(cluster: bool) -> str:
    """BunkerWeb's blocked-requests list in the given mode."""
    return CLUSTER_REQUESTS_KEY if cluster else REQUESTS_KEY


def facet_key(field: str, cluster: bool) -> str:
    """One facet hash of the blocked-requests list (``requests:facet:<field>``) in the given mode."""
    return f"{requests_key(cluster)}:facet:{field}"


FACET_PREFIXES = (facet_key("", False).encode(), facet_key("", True).encode())  # what a SCAN of either mode finds


def bad_behavior_key(ip: str, service: str | None, cluster: bool = False) -> str:
    """The bad-behaviour counter of ``ip`` (in ``service``, or global) in the given mode."""
    if cluster:
        return f"plugin_bad_behavior_{{{ip}}}" if service is None else f"plugin_bad_behavior_{escape_tag(service)}_{{{ip}}}"
    return f"plugin_bad_behavior_{ip}" if service is None else f"plugin_bad_behavior_{service}_{ip}"


# redissync's own namespace
NAMESPACE = "redissync:"
LOCK_PREFIX = NAMESPACE + "lock:"


def namespaced(*parts: str) -> str:
    return NAMESPACE + ":".join(parts)


class OwnKey(NamedTuple):
    """One key redissync writes: its name, the Redis type it holds, and the pass that owns it (which
    deletes it before the pass when it holds another type: lock.exclusive_pass)."""

    name: str
    type: str
    owner: str


GENERATION_KEY = NAMESPACE + "generation"  # the data set's identity marker (bans/identity.py)
# On a Redis Cluster, one marker per shard, its hash tag chosen in that shard's slots (bans/shards.py). Not in OWN_KEYS:
# the names depend on the slot map, so the bans pass reclaims each on its master as it reads it.
SHARD_GENERATION_KEY = GENERATION_KEY + ":{{{tag}}}"
BANS_LOCK_KEY = LOCK_PREFIX + "bans"  # a pass lock (lock.py): two schedulers never run the same pass at once
METRICS_LOCK_KEY = LOCK_PREFIX + "metrics"
METRICS_SUMMARY_KEY = namespaced("metrics", "summary")  # the last pass's summary, for a scheduler that lost the lock
# Metric keys without a TTL, tracked (metrics/hygiene.py), and the tracks this pass writes before it swaps them in:
# one hash tag, so the swap (RENAME) stays within one slot on a Redis Cluster.
FINGERPRINTS_KEY = namespaced("metrics", "{fingerprints}")
FINGERPRINTS_NEXT_KEY = namespaced("metrics", "{fingerprints}", "next")
SERVER_SERIES_KEY = namespaced("metrics", "series", "server")  # the UI's 24 h history (metrics/series.py)
TOTALS_SERIES_KEY = namespaced("metrics", "series", "totals")
SESSIONS_SUMMARY_KEY = namespaced("sessions", "summary")

# Every key of ours, in one table. A pass reclaims its own (own_key_types) before taking its lock.
OWN_KEYS: tuple[OwnKey, ...] = (
    OwnKey(BANS_LOCK_KEY, "string", "bans"),
    OwnKey(GENERATION_KEY, "string", "bans"),
    OwnKey(METRICS_LOCK_KEY, "string", "metrics"),
    OwnKey(METRICS_SUMMARY_KEY, "string", "metrics"),
    OwnKey(FINGERPRINTS_KEY, "hash", "metrics"),
    OwnKey(FINGERPRINTS_NEXT_KEY, "hash", "metrics"),
    OwnKey(SERVER_SERIES_KEY, "zset", "metrics"),
    OwnKey(TOTALS_SERIES_KEY, "zset", "metrics"),
    OwnKey(SESSIONS_SUMMARY_KEY, "string", "sessions"),
)


def own_key_types(owner: str) -> dict[str, str]:
    """``key → Redis type`` of the keys ``owner``'s pass writes."""
    return {key.name: key.type for key in OWN_KEYS if key.owner == owner}


def lock_key(owner: str) -> str:
    """The key of ``owner``'s pass lock: the one of its keys under :data:`LOCK_PREFIX`."""
    (name,) = (key.name for key in OWN_KEYS if key.owner == owner and key.name.startswith(LOCK_PREFIX))
    return name


# Key categories for the server figures (prefix → category; first match wins; anything else is "other").
KEY_CATEGORIES = ("bans", "sessions", "metrics", "counters", "other")
_CATEGORY_PREFIXES = (
    (b"bans_", "bans"),
    (b"sessions_:", "sessions"),
    (b"bunkerweb_ui_session:", "sessions"),
    (b"metrics:", "metrics"),
    (b"requests:", "metrics"),
    (b"{requests}", "metrics"),  # the list and its facets in cluster mode
    (b"plugin_", "counters"),  # bad behaviour, limit, reverse scan (docs/bunkerweb-data.md §sessions)
    (b"bwapi-rl-", "counters"),  # the API's rate limiter (docs/bunkerweb-data.md §sessions)
)


# The prefixes are disjoint and their first 4 bytes differ: one dict lookup finds the only candidate.
_CATEGORY_BY_HEAD = {prefix[:4]: (prefix, category) for prefix, category in _CATEGORY_PREFIXES}
assert len(_CATEGORY_BY_HEAD) == len(_CATEGORY_PREFIXES) and min(map(len, dict(_CATEGORY_PREFIXES))) >= 4


def key_category(key: bytes) -> str:
    """Which of :data:`KEY_CATEGORIES` a raw key belongs to (called for every key of the database)."""
    candidate = _CATEGORY_BY_HEAD.get(key[:4])
    if candidate is not None and key.startswith(candidate[0]):
        return candidate[1]
    return "metrics" if key == b"requests" else "other"


def _text(key: bytes | str) -> str | None:
    """A key name as text; None for a binary (non-UTF-8) name, which is never one of BunkerWeb's."""
    if isinstance(key, str):
        return key
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class BanKey:
    """``bans_ip_<ip>`` (global) or ``bans_service_<service>_ip_<ip>`` (service-scoped); in cluster mode
    ``bans_ip_{<ip>}`` and ``bans_service_<escaped service>_ip_{<ip>}``."""

    ip: str
    service: str | None = None

    @property
    def key(self) -> str:
        """The historical name (standalone and Sentinel)."""
        return self.key_in(cluster=False)

    def key_in(self, cluster: bool) -> str:
        """The name in the given mode: write only these; read both (:func:`split_ban_key`)."""
        ip = f"{{{self.ip}}}" if cluster else self.ip
        if self.service is None:
            return f"bans_ip_{ip}"
        return f"bans_service_{escape_tag(self.service) if cluster else self.service}_ip_{ip}"

    @property
    def scope(self) -> str:
        return ban_scope(self.service)

    def bad_behavior_keys(self, cluster: bool = False) -> tuple[str, ...]:
        """Counters that would re-ban this IP after an unban (BunkerWeb issue #3818), in the given mode."""
        return (bad_behavior_key(self.ip, self.service, cluster),)


# CrowdSec ban leases (BunkerWeb 1.6.16~rc4, ``banlease.lua``, CROWDSEC_BAN_REFRESH): ``bans_cs_ip_<ip>``,
# ``bans_cs_service_<service>_ip_<ip>`` and the fence ``cs_epoch_<ip>``. CrowdSec renews and removes them (through
# the instances' ``POST /remove_lease``); a copy of one outlives the decision it came from. redissync reads none
# of them as a ban and writes, deletes or journals none of them.
CROWDSEC_PREFIXES = ("bans_cs_", "cs_epoch_")
LEASE_KIND = "crowdsec_lease"  # the ``kind`` of a lease's value and of its ``GET /bans`` row (the other kind: "ban")


def is_crowdsec_key(key: bytes | str) -> bool:
    """A lease or fence key: CrowdSec's through BunkerWeb, never redissync's to write or delete."""
    text = _text(key)
    return text is not None and text.startswith(CROWDSEC_PREFIXES)


def is_lease(value: dict[str, Any]) -> bool:
    """A ban value or ``GET /bans`` row that is a CrowdSec lease: its ``kind`` says so, or (a row without
    ``kind``) its ``reason_data`` does (``lease: true``)."""
    if value.get("kind") == LEASE_KIND:
        return True
    reason_data = value.get("reason_data")
    return reason_data.__class__ is dict and reason_data.get("lease") is True


def ban_scope(service: str | None) -> str:
    """BunkerWeb's ``ban_scope`` for a ban of ``service`` (None: a global ban)."""
    return "global" if service is None else "service"


def split_ban_key(key: bytes | str) -> tuple[str, str | None] | None:
    """``(ip, service or None)`` of a ban key, historical or cluster name, None when it is not one. The IP is
    what follows the *last* ``_ip_`` (service names may contain ``_ip_``) and holds no ``_``; a cluster name's
    IP is in braces and its service escaped. The bans pass calls this for every new ban, so it slices instead
    of matching a regex."""
    text = _text(key)
    if text is None:
        return None
    if text.startswith("bans_ip_"):
        ip, service = text[8:], None
    elif text.startswith("bans_service_"):
        at = text.rfind("_ip_")
        if at <= 13:  # no service name before it
            return None
        ip, service = text[at + 4:], text[13:at]
        if "_" in ip:
            return None
    else:
        return None
    if ip[:1] == "{":  # a cluster name: the IP is the hash tag, the service escaped
        if ip[-1:] != "}":
            return None
        ip = ip[1:-1]
        if service is not None:
            service = unescape_tag(service)
    return (ip, service) if is_ip(ip) else None


def parse_ban_key(key: bytes | str) -> BanKey | None:
    """:func:`split_ban_key` as a :class:`BanKey`."""
    parsed = split_ban_key(key)
    return None if parsed is None else BanKey(*parsed)


def ban_key_in(key: bytes, cluster: bool) -> bytes:
    """A ban key (either mode's name) under the given mode's name; any other key as it is (a mode switch and an
    import write only the current mode's names)."""
    parsed = split_ban_key(key)
    return key if parsed is None else BanKey(*parsed).key_in(cluster).encode()


@dataclass(frozen=True)
class MetricKey:
    """``metrics:<plugin>_<kind>_<name>:<worker>`` with kind ``counter`` or ``table``."""

    plugin: str
    kind: str
    name: str
    worker: str

    @property
    def series(self) -> str:
        """The name shared by every worker and instance (what the UI aggregates on)."""
        return f"{self.plugin}_{self.kind}_{self.name}"


_METRIC = re.compile(r"metrics:(?P<plugin>[^:]+?)_(?P<kind>counter|table)_(?P<name>.+):(?P<worker>[^:]+)", re.DOTALL)


def parse_metric_key(key: bytes | str) -> MetricKey | None:
    text = _text(key)
    if text is None:
        return None
    match = _METRIC.fullmatch(text)
    if not match:
        return None
    return MetricKey(match.group("plugin"), match.group("kind"), match.group("name"), match.group("worker"))


@dataclass(frozen=True)
class SessionKey:
    """``sessions_:<cookie_name>:<storage key>`` written by lua-resty-session."""

    cookie: str
    ident: str


def parse_session_key(key: bytes | str) -> SessionKey | None:
    text = _text(key)
    if text is None:
        return None
    if not text.startswith("sessions_:"):
        return None
    cookie, sep, ident = text[len("sessions_:"):].partition(":")
    return SessionKey(cookie, ident) if sep and cookie and ident else None
