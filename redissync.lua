-- redissync: BunkerWeb's Lua side of the plugin.
-- api() answers POST /redissync/ping and GET /redissync/stats with this instance's own view of Redis
-- (through nginx's resolver, which can differ from the scheduler's), serves GET /redissync/metrics for
-- Prometheus and stores the jobs' figures (redissync_metrics.lua); init_worker() logs one line saying
-- whether Redis is reachable. Options come from confs/http/redissync-options.lua, rendered by BunkerWeb's
-- generator next to the http snippets (see docs/nginx-lua.md): never from raw settings, so the units rule,
-- TLS server_name and pool names are decided in one place.
local class = require "middleclass"
local plugin = require "bunkerweb.plugin"
local connector = require "resty.redis.connector"
local sentinel = require "resty.redis.sentinel"
local clock = require "redissync.redissync_clock"
local exposition = require "redissync.redissync_metrics"
local cluster = require "redissync.redissync_cluster"

local ngx = ngx
local ERR = ngx.ERR
local NOTICE = ngx.NOTICE
local HTTP_OK = ngx.HTTP_OK
local HTTP_INTERNAL_SERVER_ERROR = ngx.HTTP_INTERNAL_SERVER_ERROR
local OPTIONS_NAME = "http/redissync-options.lua"

local redissync = class("redissync", plugin)

function redissync:initialize(ctx)
	plugin.initialize(self, "redissync", ctx)
end

-- The generator writes http templates to /etc/nginx/http, which is nginx's prefix in BunkerWeb's images.
local function options_paths()
	return { ngx.config.prefix() .. OPTIONS_NAME, "/etc/nginx/" .. OPTIONS_NAME }
end

-- Read the rendered table (data only: no globals reachable). A syntax error is reported by line
-- number only, because Lua's message quotes the text near the error, which may be a password.
local function read_options(path)
	local chunk, err = loadfile(path)
	if not chunk then
		return nil, path .. ": unreadable options (line " .. (tostring(err):match(":(%d+):") or "?") .. ")"
	end
	setfenv(chunk, {})
	local ok, options = pcall(chunk)
	if not ok or type(options) ~= "table" then
		return nil, path .. ": the options file does not return a table"
	end
	return options
end

local cached_options

-- Once per worker: a reload starts new workers, which read the newly rendered file.
function redissync.load_options()
	if cached_options then
		return cached_options
	end
	for _, path in ipairs(options_paths()) do
		local file = io.open(path, "r")
		if file then
			file:close()
			local options, err = read_options(path)
			if not options then
				return nil, err
			end
			cached_options = options
			return options
		end
	end
	return nil, "no rendered options at " .. table.concat(options_paths(), " or ")
end

-- Same rule as the template: ngx_lua checks a server_name against DNS names only.
local function is_ip(host)
	return host:find(":", 1, true) ~= nil or host:match("^%d+%.%d+%.%d+%.%d+$") ~= nil
end

local function copy(t)
	local result = {}
	for k, v in pairs(t) do
		result[k] = v
	end
	return result
end

local function describe_tls(options)
	if not options.ssl then
		return "no TLS"
	elseif not options.ssl_verify then
		return "TLS, certificate not verified"
	elseif not options.server_name then
		return "TLS, chain verified, hostname not checked (IP address)"
	end
	return "TLS, certificate and hostname " .. options.server_name .. " verified"
end

-- Ask the sentinels for the master, then connect to it in a pool named after its address: a fixed
-- name would hand a connection to the old master to callers after a failover.
local function connect_via_sentinel(rc, options)
	local conf = options.connector
	local sent, err, previous = rc:try_hosts(conf.sentinels)
	if not sent then
		local errors = previous and table.concat(previous, "; ") or ""
		return nil, "no sentinel answered (" .. tostring(err) .. (errors ~= "" and ": " .. errors or "") .. ")"
	end
	local master, merr = sentinel.get_master(sent, conf.master_name)
	if not master then
		sent:close()
		return nil, "sentinels do not know master '" .. conf.master_name .. "': " .. tostring(merr)
	end
	sent:set_keepalive(conf.keepalive_timeout, conf.keepalive_poolsize)
	local host = master.host
	if host:find(":", 1, true) and host:sub(1, 1) ~= "[" then
		host = "[" .. host .. "]"
	end
	local connection_options = copy(conf.connection_options)
	connection_options.pool = (options.master_pool:gsub("{host}", function()
		return host
	end):gsub("{port}", function()
		return tostring(master.port)
	end))
	if connection_options.ssl and not is_ip(master.host) then
		connection_options.server_name = master.host
	end
	local red, cerr = rc:connect_to_host({
		host = host,
		port = tonumber(master.port),
		db = conf.db,
		username = conf.username,
		password = conf.password,
		connection_options = connection_options,
	})
	if not red then
		return nil, "master " .. host .. ":" .. tostring(master.port) .. ": " .. tostring(cerr)
	end
	return red, nil, connection_options
end

-- The rendered options when they allow a connection; else nil and why.
local function usable_options()
	local options, err = redissync.load_options()
	if not options then
		return nil, err
	elseif not options.enabled then
		return nil, "USE_REDIS is not yes"
	elseif options.error then
		return nil, options.error
	end
	return options
end

-- Connect with the rendered options; returns the client, the connector (to pool it) and what TLS did.
local function connect(options)
	local rc, nerr = connector.new(options.connector)
	if not rc then
		return nil, "invalid connector options: " .. tostring(nerr)
	end
	local red, cerr, used
	if options.mode == "sentinel" then
		red, cerr, used = connect_via_sentinel(rc, options)
	else
		red, cerr = rc:connect()
		used = options.connector.connection_options
	end
	if not red then
		return nil, "can't connect to " .. options.target .. ": " .. tostring(cerr)
	end
	return { red = red, rc = rc, options = options, tls = describe_tls(used) }
end

local function role_of(red)
	local role = red:role()
	if type(role) == "table" and type(role[1]) == "string" then
		return role[1]
	end
	local info = red:info("replication")
	return type(info) == "string" and info:match("role:(%w+)") or "unknown"
end

-- The server as users know it, from whichever INFO fields it has (the Python diagnosis' server_identity rule):
-- Valkey keeps redis_version:7.2.4 for compatibility, names itself in server_name/valkey_version and says
-- server_mode where Redis says redis_mode.
function redissync.server_of(info)
	local function field(name)
		return info:match("\n" .. name .. ":([^\r\n]+)")
	end
	local name = field("server_name") or "redis"
	local version = field(name .. "_version") or field("redis_version") or "unknown"
	return name:sub(1, 1):upper() .. name:sub(2) .. " " .. version, version, field("redis_mode") or field("server_mode") or "standalone"
end

-- One server's keys, memory, role and identity (standalone, Sentinel's master, or a cluster seed).
local function server_stats(red)
	local dbsize, derr = red:dbsize()
	local info, ierr = red:info()
	if not dbsize or type(info) ~= "string" then
		return nil, tostring(derr or ierr)
	end
	local server, version, server_mode = redissync.server_of(info)
	return {
		dbsize = dbsize,
		used_memory = tonumber(info:match("\nused_memory:(%d+)")),
		used_memory_human = info:match("\nused_memory_human:([^\r\n]+)"),
		role = info:match("\nrole:(%w+)"),
		server = server,
		version = version,
		server_mode = server_mode,
	}
end

local probe = { role_of = role_of, describe_tls = describe_tls, server_stats = server_stats }

-- PING through a fresh or pooled connection: latency, role, and how the connection was secured. In cluster mode,
-- every seed node's (the worst answering one's figures on top).
function redissync.ping()
	local options, oerr = usable_options()
	if not options then
		return nil, oerr
	elseif options.mode == "cluster" then
		return cluster.ping(options, probe)
	end
	local start = clock.now_ms()
	local conn, err = connect(options)
	if not conn then
		return nil, err
	end
	local connected = clock.now_ms()
	local pong, perr = conn.red:ping()
	local latency = clock.now_ms() - connected
	if not pong then
		conn.red:close()
		return nil, "PING to " .. conn.options.target .. " failed: " .. tostring(perr)
	end
	local role = role_of(conn.red)
	conn.rc:set_keepalive(conn.red)
	return {
		target = conn.options.target,
		mode = conn.options.mode,
		tls = conn.tls,
		role = role,
		connect_ms = connected - start,
		latency_ms = latency,
		clock = clock.name,
	}
end

function redissync.stats()
	local options, oerr = usable_options()
	if not options then
		return nil, oerr
	elseif options.mode == "cluster" then
		return cluster.stats(options, probe)
	end
	local conn, err = connect(options)
	if not conn then
		return nil, err
	end
	local stats, serr = server_stats(conn.red)
	if not stats then
		conn.red:close()
		return nil, "stats from " .. conn.options.target .. " failed: " .. serr
	end
	conn.rc:set_keepalive(conn.red)
	stats.target = conn.options.target
	return stats
end

function redissync:init_worker()
	if self.is_loading then
		return self:ret(true, "init_worker skipped while loading")
	end
	local options = redissync.load_options()
	if options and not options.enabled then
		return self:ret(true, "Redis not used (USE_REDIS is not yes)")
	end
	local data, err = redissync.ping()
	if not data then
		local msg = "Redis is NOT reachable: " .. err
		self.logger:log(ERR, msg)
		return self:ret(false, msg)
	end
	local msg = string.format(
		"Redis is reachable: %s (%s), role %s, PING %s",
		data.target,
		data.tls,
		data.role,
		clock.format_ms(data.latency_ms)
	)
	if data.nodes then
		msg = msg .. string.format(" (slowest of %d/%d seed nodes answering)", data.answered, data.seeds)
	end
	self.logger:log(NOTICE, msg)
	return self:ret(true, msg)
end

-- The figures page (redissync_metrics.lua) in the Prometheus text format, sent and the request ended.
function redissync.send_metrics(datastore)
	local options = redissync.load_options()
	local enabled = not options or options.enabled
	local ping = enabled and redissync.ping() or nil
	local text = exposition.exposition(datastore, ping, enabled)
	ngx.status = HTTP_OK
	ngx.header["Content-Type"] = exposition.CONTENT_TYPE
	ngx.print(text)
	return ngx.exit(HTTP_OK)
end

-- GET /metrics on REDISSYNC_PROMETHEUS_LISTEN (confs/http/redissync-prometheus.conf): no plugin object there.
function redissync.serve_metrics()
	return redissync.send_metrics(require("bunkerweb.datastore"):new())
end

-- GET /redissync/metrics: the text format, not BunkerWeb's JSON envelope. BunkerWeb's API server calls api()
-- from access_by_lua (src/common/confs/api.conf) and would JSON-encode what we return, so the page is sent
-- here and the request ended, as that handler ends it itself after its own say().
function redissync:metrics()
	return redissync.send_metrics(self.datastore)
end

-- POST /redissync/figures/<job>: a job's section, sent by the scheduler after every run (figures/publish.py).
function redissync:store_figures(job)
	local body = exposition.read_body()
	local ok, err = exposition.store(self.datastore, job, body)
	if not ok then
		return self:ret(true, "figures refused: " .. tostring(err), ngx.HTTP_BAD_REQUEST)
	end
	return self:ret(true, "stored", HTTP_OK)
end

function redissync:api()
	local uri, method = self.ctx.bw.uri, self.ctx.bw.request_method
	local handler
	if uri == "/redissync/metrics" and method == "GET" then
		return self:metrics()
	elseif uri:sub(1, 19) == "/redissync/figures/" and method == "POST" then
		return self:store_figures(uri:sub(20))
	elseif uri == "/redissync/ping" and method == "POST" then
		handler = redissync.ping
	elseif uri == "/redissync/stats" and method == "GET" then
		handler = redissync.stats
	else
		return self:ret(false, "not a redissync endpoint")
	end
	local data, err = handler()
	if not data then
		return self:ret(true, err, HTTP_INTERNAL_SERVER_ERROR)
	end
	return self:ret(true, data, HTTP_OK)
end

return redissync
