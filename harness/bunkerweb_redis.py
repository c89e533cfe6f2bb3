"""What BunkerWeb 1.6.x sends to Redis with the REDIS_USERNAME redissync also uses: test data for the combined ACL.

Facts read from BunkerWeb's source (bunkerity/bunkerweb, 1.6 branch) and from the Lua libraries it bundles, written
down here as commands; nothing is copied. Each entry names the file (and function) that sends it. A script entry
carries a Lua body written for this table: it calls the same commands, in the same order, on the same keys, which is
what ACL checks (Redis applies the caller's rule to every command a script calls, and the script's key arguments to
its key patterns). Values are examples of the real shapes (``bans_service_<server>_ip_<ip>``, ``<wid>`` = nginx
worker id). tests/reliability/test_least_privilege_combined.py runs every entry as the combined user.
"""

from __future__ import annotations

from dataclasses import dataclass

IP, SERVICE, WORKER = "192.0.2.10", "www.example.com", "0"
BAN_JSON = ('{"reason":"manual","service":"www.example.com","date":1700000000,"country":"local","ban_scope":"global",'
            '"reason_data":{},"permanent":false}')


@dataclass(frozen=True)
class Sent:
    """One thing BunkerWeb sends: a plain command (``command``), or EVAL of ``script`` calling ``inner`` commands."""

    source: str
    command: tuple[str, ...] = ()
    script: str = ""
    keys: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    inner: tuple[str, ...] = ()

    def wire(self) -> tuple[str, ...]:
        """The command as it goes over the wire."""
        if self.script:
            return ("EVAL", self.script, str(len(self.keys)), *self.keys, *self.args)
        return self.command

    def commands(self) -> set[str]:
        """The command names ACL checks for this entry (lower case, as ``ACL CAT`` lists them)."""
        return {"eval", *(c.lower() for c in self.inner)} if self.script else {self.command[0].lower()}

    def key_names(self) -> tuple[str, ...]:
        return self.keys if self.script else _plain_keys(self.command)


def _plain_keys(command: tuple[str, ...]) -> tuple[str, ...]:
    name = command[0].upper()
    if name in ("PING", "SELECT", "DISCARD", "DBSIZE", "SCAN", "KEYS"):
        return ()
    return (command[1],)


def script(*lines: str) -> str:
    return "\n".join(lines)


_CONNECTOR = "src/deps/src/lua-resty-redis-connector/lib/resty/redis/connector.lua"
_SESSION = "src/deps/src/lua-resty-session/lib/resty/session/redis/common.lua"
BAN_KEY, SERVICE_BAN_KEY = f"bans_ip_{IP}", f"bans_service_{SERVICE}_ip_{IP}"
COUNTER_KEY, SERVICE_COUNTER_KEY = f"plugin_bad_behavior_{IP}", f"plugin_bad_behavior_{SERVICE}_{IP}"
GET_AND_TTL = script("local value = redis.call('GET', KEYS[1])", "local ttl = redis.call('TTL', KEYS[1])", "return {value, ttl}")
COUNT_UP = script(
    "local count = redis.call('INCR', KEYS[1])",
    "redis.call('EXPIRE', KEYS[1], ARGV[1])",
    "if count >= tonumber(ARGV[2]) then",
    "  if tonumber(ARGV[3]) == 0 then redis.call('SET', KEYS[2], 'bad behavior')",
    "  else redis.call('SET', KEYS[2], 'bad behavior', 'EX', ARGV[3]) end",
    "end",
    "return count",
)
COUNT_DOWN = script(
    "local count = redis.call('DECR', KEYS[1])",
    "redis.call('EXPIRE', KEYS[1], ARGV[1])",
    "if count <= 0 then redis.call('DEL', KEYS[1]) end",
    "return count",
)
TIMESTAMPS = script(
    "local stored = redis.call('GET', KEYS[1])",
    "redis.call('SET', KEYS[1], '[' .. ARGV[3] .. ']', 'EX', 60)",
    "return stored and 1 or 0",
)
WINDOW_COUNT = script(
    "local count = redis.call('INCR', KEYS[1])",
    "if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end",
    "return count",
)

SENT: tuple[Sent, ...] = (
    # -- every Lua connection: clusterstore:connect() → connector.connect_to_host(), close() → set_keepalive()
    Sent(f"src/bw/lua/bunkerweb/clusterstore.lua connect(); {_CONNECTOR} connect_to_host(): SELECT on every connect",
         ("SELECT", "0")),
    Sent(f"src/bw/lua/bunkerweb/clusterstore.lua close(); {_CONNECTOR} set_keepalive(): DISCARD before pooling",
         ("DISCARD",)),
    # -- core redis plugin and the sessions timer
    Sent("src/common/core/redis/redis.lua init_worker() and api() POST /redis/ping", ("PING",)),
    Sent("src/common/core/redis/redis.lua api() GET /redis/stats (redis_nb_keys)", ("DBSIZE",)),
    Sent("src/common/core/sessions/sessions.lua timer(): Redis reachable, else cookie storage", ("PING",)),
    # -- bans (utils.lua), the API's /ban and /unban, badbehavior's bans
    Sent("src/bw/lua/bunkerweb/utils.lua is_banned(): service ban first, by script", script=GET_AND_TTL,
         keys=(SERVICE_BAN_KEY,), inner=("GET", "TTL")),
    Sent("src/bw/lua/bunkerweb/utils.lua is_banned(): then the global ban", script=GET_AND_TTL, keys=(BAN_KEY,),
         inner=("GET", "TTL")),
    Sent("src/bw/lua/bunkerweb/utils.lua add_ban(): a timed ban", ("SET", BAN_KEY, BAN_JSON, "EX", "86400")),
    Sent("src/bw/lua/bunkerweb/utils.lua add_ban(): a permanent service ban", ("SET", SERVICE_BAN_KEY, BAN_JSON)),
    Sent("src/bw/lua/bunkerweb/utils.lua remove_ban(): global unban", ("DEL", BAN_KEY)),
    Sent("src/bw/lua/bunkerweb/utils.lua remove_ban(): each service ban of the IP", ("DEL", SERVICE_BAN_KEY)),
    # -- bad behaviour counters
    Sent("src/common/core/badbehavior/badbehavior.lua redis_increase(), global scope, timed ban", script=COUNT_UP,
         keys=(COUNTER_KEY, BAN_KEY), args=("60", "1", "86400"), inner=("INCR", "EXPIRE", "SET")),
    Sent("src/common/core/badbehavior/badbehavior.lua redis_increase(), service scope, permanent ban", script=COUNT_UP,
         keys=(SERVICE_COUNTER_KEY, SERVICE_BAN_KEY), args=("60", "1", "0"), inner=("INCR", "EXPIRE", "SET")),
    Sent("src/common/core/badbehavior/badbehavior.lua redis_decrease()", script=COUNT_DOWN, keys=(COUNTER_KEY,),
         args=("60",), inner=("DECR", "EXPIRE", "DEL")),
    # -- request limits
    Sent("src/common/core/limit/limit.lua limit_req_redis(): the timestamps of <server><ip><uri>", script=TIMESTAMPS,
         keys=(f"plugin_limit_{SERVICE}{IP}/login",), args=("2", "s", "1700000000"), inner=("GET", "SET")),
    Sent("src/common/core/limit/limit.lua limit_req_global() (fixed window counter, bunkerweb/ratelimit.lua)",
         script=WINDOW_COUNT, keys=(f"plugin_limit_global_{SERVICE}_28333333",), args=("60",),
         inner=("INCR", "EXPIRE")),
    # -- the Redis-backed cachestore (reverse scan results)
    Sent("src/bw/lua/bunkerweb/cachestore.lua get(): value and TTL by script", script=GET_AND_TTL,
         keys=(f"plugin_reverse_scan_{IP}:22",), inner=("GET", "TTL")),
    Sent("src/bw/lua/bunkerweb/cachestore.lua set_redis() (reverse scan: 86400 s)",
         ("SET", f"plugin_reverse_scan_{IP}:22", "open", "EX", "86400")),
    # -- metrics timer: the blocked requests list, its facets, per-worker counters and tables
    Sent("src/common/core/metrics/metrics.lua initialize_request_facets()", ("GET", "requests:facets:initialized")),
    Sent("src/common/core/metrics/metrics.lua clear_request_facets()", ("DEL", "requests:facet:ip")),
    Sent("src/common/core/metrics/metrics.lua initialize_request_facets()", ("LLEN", "requests")),
    Sent("src/common/core/metrics/metrics.lua initialize_request_facets(), by chunks of 1000",
         ("LRANGE", "requests", "0", "999")),
    Sent("src/common/core/metrics/metrics.lua incr_request_facets()", ("HINCRBY", "requests:facet:ip", IP, "1")),
    Sent("src/common/core/metrics/metrics.lua decr_request_facets()", ("HINCRBY", "requests:facet:ip", IP, "-1")),
    Sent("src/common/core/metrics/metrics.lua decr_request_facets(): an emptied facet value",
         ("HDEL", "requests:facet:ip", IP)),
    Sent("src/common/core/metrics/metrics.lua clear_request_facets()", ("SET", "requests:facets:initialized", "1")),
    Sent("src/common/core/metrics/metrics.lua timer(): each blocked request", ("RPUSH", "requests", '{"id":"a1"}')),
    Sent("src/common/core/metrics/metrics.lua enforce_redis_requests_cap()", ("LPOP", "requests")),
    Sent("src/common/core/metrics/metrics.lua timer() of releases before the facets: the cap",
         ("LTRIM", "requests", "-100000", "-1")),
    Sent("src/common/core/metrics/metrics.lua enforce_redis_requests_cap(): cap 0", ("DEL", "requests")),
    Sent("src/common/core/metrics/metrics.lua timer(), METRICS_SAVE_TO_REDIS=yes: a counter",
         ("SET", f"metrics:badbehavior_counter_status_403:{WORKER}", "3")),
    Sent("src/common/core/metrics/metrics.lua timer(), METRICS_SAVE_TO_REDIS=yes: a table is rewritten",
         ("DEL", f"metrics:badbehavior_table_increments_{IP}:{WORKER}")),
    Sent("src/common/core/metrics/metrics.lua timer(), METRICS_SAVE_TO_REDIS=yes",
         ("RPUSH", f"metrics:badbehavior_table_increments_{IP}:{WORKER}", '{"ip":"192.0.2.10"}')),
    # -- sessions: lua-resty-session 4 redis storage, prefix "sessions_" (sessions.lua init())
    Sent(f"{_SESSION} SET(): save", ("SET", "sessions_:bw:abc", "data", "EX", "1800")),
    Sent(f"{_SESSION} GET(): open", ("GET", "sessions_:bw:abc")),
    Sent(f"{_SESSION} SET(): renewal reads the old key's TTL", ("TTL", "sessions_:bw:old")),
    Sent(f"{_SESSION} SET(): renewal gives the old key a stale TTL", ("EXPIRE", "sessions_:bw:old", "10")),
    Sent(f"{_SESSION} UNLINK(): logout", ("UNLINK", "sessions_:bw:abc")),
    # -- BunkerWeb's Python with the same user: web UI and bwcli (common_utils.get_redis_client)
    Sent("src/common/utils/common_utils.py get_redis_client(): PING after connect", ("PING",)),
    Sent("src/ui/app/routes/bans.py and src/common/cli/CLI.py: global bans",
         ("SCAN", "0", "MATCH", "bans_ip_*", "COUNT", "100")),
    Sent("src/ui/app/routes/bans.py and src/common/cli/CLI.py: service bans",
         ("SCAN", "0", "MATCH", "bans_service_*_ip_*", "COUNT", "100")),
    Sent("src/ui/app/routes/bans.py: pipelined GET + TTL per ban", ("GET", BAN_KEY)),
    Sent("src/ui/app/routes/bans.py: pipelined GET + TTL per ban", ("TTL", BAN_KEY)),
    Sent("src/ui/app/models/instance.py reports: list length", ("LLEN", "requests")),
    Sent("src/ui/app/models/instance.py reports: pages of 2000", ("LRANGE", "requests", "0", "1999")),
    Sent("src/ui/app/models/instance.py facets (top IPs, search panes)",
         ("HSCAN", "requests:facet:ip", "0", "COUNT", "1000")),
    Sent("src/ui/app/models/instance.py get_metrics(): a plugin's metrics from every worker",
         ("KEYS", "metrics:badbehavior_*")),
    Sent("src/ui/app/models/instance.py get_metrics('errors')", ("KEYS", "metrics:errors_counter_*")),
    Sent("src/ui/app/models/instance.py get_metrics(): counter or table",
         ("TYPE", f"metrics:badbehavior_counter_status_403:{WORKER}")),
    Sent("src/ui/app/models/instance.py get_metrics(): a counter", ("GET", f"metrics:badbehavior_counter_status_403:{WORKER}")),
    Sent("src/ui/app/models/instance.py get_metrics(): a table",
         ("LRANGE", f"metrics:badbehavior_table_increments_{IP}:{WORKER}", "0", "-1")),
    Sent("src/ui/main.py Flask-Session (RedisSessionInterface, prefix bunkerweb_ui_session:): save",
         ("SET", "bunkerweb_ui_session:sid1", "data", "EX", "3600")),
    Sent("src/ui/main.py Flask-Session: open", ("GET", "bunkerweb_ui_session:sid1")),
    Sent("src/ui/main.py Flask-Session: logout", ("DEL", "bunkerweb_ui_session:sid1")),
)


def bunkerweb_commands() -> set[str]:
    return set().union(*(sent.commands() for sent in SENT))


def bunkerweb_keys() -> set[str]:
    return {key for sent in SENT for key in sent.key_names()}
