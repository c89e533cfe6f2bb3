"""ACL users of the harness. The least-privilege rule is what the README documents for production
(docs/least-privilege.md); tests/reliability/test_least_privilege.py proves every part of it necessary."""

FULL_USER = "bunkerweb"
FULL_PASSWORD = "Full-Pw-0d9f3c2a-redissync"
LEAST_USER = "redissync"
LEAST_PASSWORD = "Least-Pw-6a1b5e77-redissync"

# Key patterns BunkerWeb and redissync use (docs/bunkerweb-data.md) and redissync's own namespace.
LEAST_PRIVILEGE_KEYS = (
    "~bans_*", "~plugin_bad_behavior_*", "~sessions_*", "~bunkerweb_ui_session:*", "~metrics:*", "~requests*", "~redissync:*",
)
# Exactly the commands redissync sends (its jobs, bwcli commands, diagnosis and redissync.lua), scripts included:
# Redis checks commands a Lua script calls against the same rule. Not granted on purpose: CONFIG GET (it would
# also reveal requirepass/masterauth; the diagnosis then reports persistence as unknown), KEYS, FLUSH*, pub/sub.
LEAST_PRIVILEGE_COMMANDS = (
    # strings, keys and TTLs
    "get", "set", "del", "unlink", "exists", "type", "ttl", "pttl", "expire", "rename", "scan",
    # lists (metrics tables, the requests list), hashes (facets, our fingerprints), sorted sets (our series)
    "llen", "lrange", "hlen", "hset", "hmget", "zadd", "zcard", "zrangebyscore", "zrevrangebyscore", "zremrangebyscore",
    # transactions and scripts (redis-py's Script: EVALSHA, then SCRIPT LOAD on NOSCRIPT)
    "multi", "exec", "discard", "eval", "evalsha", "script|load",
    # connection and server facts
    "ping", "select", "client|setname", "info", "role", "dbsize",
)
# Kept although nothing fails without them (see test_least_privilege.py), both harmless: redissync.lua asks ROLE
# first and falls back to INFO replication; lua-resty-redis-connector sends DISCARD before pooling a connection and
# ignores the error. Denied, each would leave a permanent ACL LOG entry next to the real problems.
KEPT_FOR_A_CLEAN_ACL_LOG = ("role", "discard")


# On a Redis Cluster (docs/least-privilege.md, Redis Cluster): CLUSTER SLOTS and COMMAND, which redis-py's cluster client
# sends to learn the slot map (on start and after a MOVED) and where each command's keys are, and CLUSTER INFO and
# CLUSTER NODES, which the check reads (state, shards). tests/redissync/diagnose/test_cluster.py runs the check as the
# user with them, and without each one.
LEAST_PRIVILEGE_CLUSTER_COMMANDS = ("cluster|slots", "command", "cluster|info", "cluster|nodes")
# And the names BunkerWeb gives the requests list and its facets in cluster mode (rediskeys.lua: one hash tag), which
# the metrics job reads: tests/jobs/test_metrics_cluster.py runs it as the user with it, and without it.
LEAST_PRIVILEGE_CLUSTER_KEYS = ("~{requests}*",)


def least_privilege_rule(without: str | None = None, cluster: bool = False) -> str:
    """The rule after ``ACL SETUSER <user> on >password``; ``without`` drops one key pattern or command; ``cluster``
    adds what a Redis Cluster needs."""
    keys = [pattern for pattern in (*LEAST_PRIVILEGE_KEYS, *(LEAST_PRIVILEGE_CLUSTER_KEYS if cluster else ())) if pattern != without]
    extra = LEAST_PRIVILEGE_CLUSTER_COMMANDS if cluster else ()
    commands = [f"+{command}" for command in (*LEAST_PRIVILEGE_COMMANDS, *extra) if command != without]
    return " ".join([*keys, "resetchannels", "-@all", *commands])


LEAST_PRIVILEGE_RULE = least_privilege_rule()

# What BunkerWeb itself needs on top of that rule when its Lua, web UI and bwcli share the user (REDIS_USERNAME is
# one global setting): every entry of harness/bunkerweb_redis.py, which cites the source of each. Key patterns:
# request limits and the Redis-backed cachestore (reverse scan). Commands: bad-behaviour and limit counters
# (INCR/DECR in scripts), the blocked-requests list and its facets (RPUSH, LPOP, LTRIM, HINCRBY, HDEL), and the web
# UI's reads (HSCAN on the facets, KEYS metrics:<plugin>_* in instance.py get_metrics()).
BUNKERWEB_KEYS = ("~plugin_limit_*", "~plugin_reverse_scan_*")
BUNKERWEB_COMMANDS = ("incr", "decr", "rpush", "lpop", "ltrim", "hincrby", "hdel", "hscan", "keys")
COMBINED_USER = "bunkerweb-cluster"
COMBINED_PASSWORD = "Combined-Pw-3c8e1f90-redissync"


def combined_rule(without: str | None = None) -> str:
    """The rule for one user shared by BunkerWeb and redissync; ``without`` drops one key pattern or command."""
    keys = [pattern for pattern in (*LEAST_PRIVILEGE_KEYS, *BUNKERWEB_KEYS) if pattern != without]
    commands = [f"+{c}" for c in (*LEAST_PRIVILEGE_COMMANDS, *BUNKERWEB_COMMANDS) if c != without]
    return " ".join([*keys, "resetchannels", "-@all", *commands])

# What redissync needs on the sentinels (REDIS_SENTINEL_USERNAME). Required (without one, a job fails): SENTINEL
# MASTERS (redis-py's master lookup), GET-MASTER-ADDR-BY-NAME (redissync.lua, the diagnosis) and REPLICAS (the
# diagnosis fails its replicas step without it). Kept for the diagnosis' views: MASTER and CKQUORUM (agreement and
# quorum; denied, they become warnings and every job still works). No keys, no writes, no PING needed (AUTH first).
SENTINEL_REQUIRED = ("sentinel|masters", "sentinel|get-master-addr-by-name", "sentinel|replicas")
SENTINEL_LEAST_COMMANDS = (*SENTINEL_REQUIRED, "sentinel|master", "sentinel|ckquorum")


def sentinel_rule(without: str | None = None) -> str:
    return " ".join(["resetkeys", "resetchannels", "-@all", *(f"+{c}" for c in SENTINEL_LEAST_COMMANDS if c != without)])


def acl_lines(default_user_on: bool = False) -> list[str]:
    return [
        "user default " + ("on nopass ~* &* +@all" if default_user_on else "off"),
        f"user {FULL_USER} on >{FULL_PASSWORD} ~* &* +@all",
        f"user {LEAST_USER} on >{LEAST_PASSWORD} {LEAST_PRIVILEGE_RULE}",
    ]
