{#-
  The Redis options redissync.lua reads, as a Lua table. nginx includes only http/*.conf, so this file is
  data for Lua, never an nginx directive. Python twin and reference: tests/confs/luaopts.py (same
  numbers, same pool names; tested). Computed here because BunkerWeb's generator cannot import plugin
  packages; only the standard library is reached through `import`.
-#}
{%- macro lua(value) -%}
"{{ value | string | replace("\\", "\\\\") | replace("\"", "\\\"") | replace("\n", "\\n") | replace("\r", "\\r") }}"
{%- endmacro -%}
{%- macro digest(user, password) -%}
{%- if not user and not password -%}
anon
{%- else -%}
{{ import("hashlib").pbkdf2_hmac("sha256", (user ~ "\x00" ~ password).encode(), "redissync-pool-v1".encode(), 10000).hex()[:16] }}
{%- endif -%}
{%- endmacro -%}
{%- macro is_ip(host) -%}
{{ "yes" if ":" in host or import("re").fullmatch("[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+", host) else "" }}
{%- endmacro -%}
{%- macro lua_host(host) -%}
{{ "[" ~ host ~ "]" if ":" in host and not host.startswith("[") else host }}
{%- endmacro -%}
{%- macro tls(ssl, verify, host) -%}
ssl = {{ "true" if ssl else "false" }}, ssl_verify = {{ "true" if verify else "false" }}
{%- if ssl and host and not is_ip(host) %}, server_name = {{ lua(host) }}{% endif %}
{%- endmacro -%}
{%- macro credentials_and_timeouts(username, password, timeout_ms, keepalive_ms, pool_size) %}
    username = {{ lua(username) }},
    password = {{ lua(password) }},
{% if timeout_ms is not none %}
    connect_timeout = {{ timeout_ms }},
    send_timeout = {{ timeout_ms }},
    read_timeout = {{ timeout_ms }},
{% endif %}
{% if keepalive_ms is not none %}
    keepalive_timeout = {{ keepalive_ms }},
{% endif %}
    keepalive_poolsize = {{ pool_size }},
{%- endmacro -%}
-- redissync: Redis options for the Lua side, rendered from the REDIS_* settings (docs/nginx-lua.md).
{% if USE_REDIS != "yes" %}
return { enabled = false }
{% else %}
{#- Units by ownership: BunkerWeb's core redis plugin, when installed, owns REDIS_* in milliseconds. #}
{% set os = import("os") %}
{% set core_json = os.path.join(os.environ.get("REDISSYNC_BW_CORE_DIR") or "/usr/share/bunkerweb/core", "redis", "plugin.json") %}
{% set core = os.path.isfile(core_json) and "\"REDIS_TIMEOUT\"" in import("pathlib").Path(core_json).read_text() %}
{#- Durations as BunkerWeb 1.6.16 reads them (duration.lua; Python twin: jobs/redissync/durations.py): one whole
    number, at most one unit suffix, a bare number in the owner's unit; anything else is an error, never a default. #}
{% set unit_ms = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000, "M": 2592000000, "y": 31536000000} %}
{% set bare_unit = "ms" if core else "s" %}
{% set problems = [] %}
{% set durations = {} %}
{% for name, text, minimum in [("REDIS_TIMEOUT", REDIS_TIMEOUT | string, 1), ("REDIS_KEEPALIVE_IDLE", REDIS_KEEPALIVE_IDLE | string, 0)] %}
{% set m = import("re").fullmatch("([0-9]+)(ms|[smhdwMy])?", text) %}
{% set digits = (m.group(1).lstrip("0") or "0") if m else "" %}
{% set ms = (digits | int) * unit_ms[m.group(2) or bare_unit] if m and digits | length <= 12 else -1 %}
{% if minimum <= ms <= 999999999000 %}
{% set _ = durations.update({name: ms}) %}
{% else %}
{% set _ = problems.append(name ~ "='" ~ text ~ "' is invalid: expected a whole number" ~ (" from 1" if minimum else "") ~ " with an optional unit (ms, s, m = minutes, h, d, w, M = 30 days, y = 365 days), at most 999999999s") %}
{% endif %}
{% endfor %}
{% set timeout_ms = durations.get("REDIS_TIMEOUT") %}
{% set keepalive_ms = durations.get("REDIS_KEEPALIVE_IDLE") %}
{% set pool_size = REDIS_KEEPALIVE_POOL | int(10 if core else 3) %}
{% set db = REDIS_DATABASE | int(0) %}
{% set ssl = REDIS_SSL == "yes" %}
{% set verify = ssl and REDIS_SSL_VERIFY == "yes" %}
{% set scheme = "rediss" if ssl else "redis" %}
{% set vtag = ("verify" if verify else "noverify") if ssl else "plain" %}
{% set data_digest = digest(REDIS_USERNAME, REDIS_PASSWORD) %}
{#- Both host lists: "host", "host:port" or "[ipv6]:port" (Redis Cluster: BunkerWeb 1.6.16 rediskeys.lua parse_nodes). #}
{% set sentinels = [] %}
{% set cluster = [] %}
{% for text, default_port, hosts in [(REDIS_SENTINEL_HOSTS, 26379, sentinels), (REDIS_CLUSTER_NODES | default(""), 6379, cluster)] %}
{% for item in text.split() %}
{% set m = import("re").fullmatch("\\[(?P<v6>[^\\]]+)\\](?::(?P<p6>[0-9]+))?|(?P<host>[^:]+)(?::(?P<port>[0-9]+))?", item) %}
{% if m %}
{% set _ = hosts.append({"host": m.group("v6") or m.group("host"), "port": (m.group("p6") or m.group("port") or default_port) | int}) %}
{% endif %}
{% endfor %}
{% endfor %}
{% set master = REDIS_SENTINEL_MASTER | trim or "mymaster" %}
{% if cluster %}
{#- BunkerWeb's refusals, in its words (rediskeys.lua cluster_config_error): Redis is then not used at all. #}
{% if REDIS_SENTINEL_HOSTS | trim %}
{% set _ = problems.append("REDIS_CLUSTER_NODES and REDIS_SENTINEL_HOSTS are both set, remove one") %}
{% elif db != 0 %}
{% set _ = problems.append("REDIS_CLUSTER_NODES requires REDIS_DATABASE 0 (got " ~ REDIS_DATABASE ~ ")") %}
{% endif %}
{% set ns = namespace(addresses=[]) %}
{% for n in cluster %}
{% set ns.addresses = ns.addresses + [lua_host(n.host) ~ ":" ~ n.port] %}
{% endfor %}
return {
  enabled = true,
{% if problems %}
  error = {{ lua(problems | join("; ")) }},
{% endif %}
  mode = "cluster",
  units = "{{ "milliseconds" if core else "seconds" }}",
  target = {{ lua(("TLS " if ssl else "") ~ "cluster via seed nodes " ~ ns.addresses | join(" ")) }},
  nodes = {
{% for n in cluster %}
    {
      host = {{ lua(lua_host(n.host)) }},
      port = {{ n.port }},
      connection_options = {
        {{ tls(ssl, verify, n.host) }},
        pool = {{ lua("redissync:" ~ scheme ~ ":" ~ vtag ~ ":" ~ lua_host(n.host) ~ ":" ~ n.port ~ ":0:" ~ data_digest) }},
        pool_size = {{ pool_size }},
      },
    },
{% endfor %}
  },
  connector = {
    db = 0,
{{ credentials_and_timeouts(REDIS_USERNAME, REDIS_PASSWORD, timeout_ms, keepalive_ms, pool_size) }}
  },
}
{% else %}
return {
  enabled = true,
{% if not sentinels and not REDIS_HOST %}
{% set _ = problems.append("REDIS_HOST is empty and REDIS_SENTINEL_HOSTS is not set") %}
{% endif %}
{% if problems %}
  error = {{ lua(problems | join("; ")) }},
{% endif %}
  mode = "{{ "sentinel" if sentinels else "standalone" }}",
  units = "{{ "milliseconds" if core else "seconds" }}",
{% if sentinels %}
{% set ns = namespace(addresses=[]) %}
{% for s in sentinels %}
{% set ns.addresses = ns.addresses + [lua_host(s.host) ~ ":" ~ s.port] %}
{% endfor %}
  target = {{ lua("master '" ~ master ~ "' via sentinels " ~ ns.addresses | join(" ")) }},
  master_pool = {{ lua("redissync:" ~ scheme ~ ":" ~ vtag ~ ":{host}:{port}:" ~ db ~ ":" ~ data_digest) }},
{% else %}
  target = {{ lua(scheme ~ "://" ~ lua_host(REDIS_HOST) ~ ":" ~ (REDIS_PORT | int(6379)) ~ "/" ~ db) }},
{% endif %}
  connector = {
{% if sentinels %}
    master_name = {{ lua(master) }},
    role = "master",
    sentinel_username = {{ lua(REDIS_SENTINEL_USERNAME) }},
    sentinel_password = {{ lua(REDIS_SENTINEL_PASSWORD) }},
    sentinels = {
{% set sentinel_digest = digest(REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD) %}
{% for s in sentinels %}
      {
        host = {{ lua(lua_host(s.host)) }},
        port = {{ s.port }},
        username = {{ lua(REDIS_SENTINEL_USERNAME) }},
        password = {{ lua(REDIS_SENTINEL_PASSWORD) }},
        connection_options = {
          {{ tls(ssl, verify, s.host) }},
          pool = {{ lua("redissync:sentinel:" ~ scheme ~ ":" ~ vtag ~ ":" ~ lua_host(s.host) ~ ":" ~ s.port ~ ":" ~ sentinel_digest) }},
          pool_size = {{ pool_size }},
        },
      },
{% endfor %}
    },
    connection_options = {
      {{ tls(ssl, verify, "") }},
      pool_size = {{ pool_size }},
    },
{% else %}
    host = {{ lua(lua_host(REDIS_HOST)) }},
    port = {{ REDIS_PORT | int(6379) }},
    connection_options = {
      {{ tls(ssl, verify, REDIS_HOST) }},
      pool = {{ lua("redissync:" ~ scheme ~ ":" ~ vtag ~ ":" ~ lua_host(REDIS_HOST) ~ ":" ~ (REDIS_PORT | int(6379)) ~ ":" ~ db ~ ":" ~ data_digest) }},
      pool_size = {{ pool_size }},
    },
{% endif %}
    db = {{ db }},
{{ credentials_and_timeouts(REDIS_USERNAME, REDIS_PASSWORD, timeout_ms, keepalive_ms, pool_size) }}
  },
}
{% endif %}
{% endif %}
