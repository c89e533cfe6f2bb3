"""The long REDIS_* regexes of the seed table, built from named parts (``make docs`` writes them into
jobs/redissync/redis_settings.json, ``make docs-check`` fails when the file differs).

Python's ``re`` and BunkerWeb's validator read them alike; every part is anchored by its user only.
"""

from __future__ import annotations

IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"{IPV4_OCTET}(?:\.{IPV4_OCTET}){{3}}"

# A DNS label (underscores allowed, as Docker and Kubernetes service names use them), at most 63 characters.
LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?"
# Dot-separated labels, optionally fully qualified; the last label holds a letter, so "1.2.3.4" is never a name.
HOSTNAME = rf"(?:{LABEL}\.)*(?=[0-9_\-]*[A-Za-z]){LABEL}\.?"

H16 = "[0-9A-Fa-f]{1,4}"  # one group of an IPv6 address
IPV6 = "|".join((  # RFC 4291 text forms: full, then "::" standing for one or more zero groups at each place
    rf"(?:{H16}:){{7}}{H16}",
    rf"(?:{H16}:){{1,7}}:",
    rf"(?:{H16}:){{1,6}}:{H16}",
    rf"(?:{H16}:){{1,5}}(?::{H16}){{1,2}}",
    rf"(?:{H16}:){{1,4}}(?::{H16}){{1,3}}",
    rf"(?:{H16}:){{1,3}}(?::{H16}){{1,4}}",
    rf"(?:{H16}:){{1,2}}(?::{H16}){{1,5}}",
    rf"{H16}:(?::{H16}){{1,6}}",
    rf":(?:(?::{H16}){{1,7}}|:)",
))

PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"  # 1-65535

# Empty (Sentinel mode), an IPv4 address, a host name or a bare IPv6 address.
REDIS_HOST = rf"^(?:|{IPV4}|{HOSTNAME}|(?:{IPV6}))$"
# Space-separated host[:port] items, an IPv6 address in brackets; no leading, trailing or double space.
# REDIS_SENTINEL_HOSTS and REDIS_CLUSTER_NODES share the form (only their default port differs).
ADDRESS_ITEM = rf"(?:{IPV4}|{HOSTNAME}|\[(?:{IPV6})\])(?::{PORT})?"
ADDRESS_LIST = rf"^(?:{ADDRESS_ITEM}(?: (?=[^ ])|$))*$"

GENERATED = {"REDIS_HOST": REDIS_HOST, "REDIS_SENTINEL_HOSTS": ADDRESS_LIST, "REDIS_CLUSTER_NODES": ADDRESS_LIST,
             "REDIS_PORT": rf"^{PORT}$"}
