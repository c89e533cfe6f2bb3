-- Test stand-in for lua-resty-redis-connector 0.11 as BunkerWeb bundles it: new(config) refuses unknown
-- fields (like the real fixed-field defaults), connect() to a host, try_hosts(), connect_to_host(host)
-- (host fields override the config, AUTH with username unless empty/"default", SELECT when host.db is
-- set), set_keepalive(red) (DISCARD, then pool with keepalive_timeout/keepalive_poolsize).
-- Every config and every effective connection is recorded, so tests assert what it received.
local redis = require "resty.redis"

local DEFAULTS = {
	connect_timeout = 100, read_timeout = 1000, send_timeout = 1000, connection_options = {},
	keepalive_timeout = 60000, keepalive_poolsize = 30, host = "127.0.0.1", port = 6379, path = "",
	username = "", password = "", sentinel_username = "", sentinel_password = "", db = 0, url = "",
	master_name = "mymaster", role = "master", sentinels = {}, connection_is_proxied = false,
	disabled_commands = {},
}

local _M = { recorded = { configs = {}, connections = {} } }
local mt = { __index = _M }

local function deep_copy(value)
	if type(value) ~= "table" then
		return value
	end
	local result = {}
	for k, v in pairs(value) do
		result[k] = deep_copy(v)
	end
	return result
end

function _M.new(config)
	for key in pairs(config) do
		if DEFAULTS[key] == nil then
			return nil, "field " .. tostring(key) .. " does not exist"
		end
	end
	table.insert(_M.recorded.configs, deep_copy(config))
	local merged = deep_copy(DEFAULTS)
	for k, v in pairs(config) do
		merged[k] = deep_copy(v)
	end
	return setmetatable({ config = merged }, mt)
end

function _M:connect()
	if #self.config.sentinels > 0 then
		return nil, "stand-in: connect() via sentinels is not used by redissync"
	end
	return self:connect_to_host(self.config)
end

function _M:try_hosts(hosts)
	local errors = {}
	for i, host in ipairs(hosts) do
		local r, err = self:connect_to_host(host)
		if r and not err then
			return r, nil, errors
		end
		errors[i] = err
	end
	return nil, "no hosts available", errors
end

function _M:connect_to_host(host)
	local config = deep_copy(self.config)
	for k in pairs(config) do
		if host[k] then
			config[k] = host[k]
		end
	end
	local r = redis.new()
	r:set_timeouts(config.connect_timeout, config.send_timeout, config.read_timeout)
	local opts = config.connection_options
	table.insert(_M.recorded.connections, {
		host = host.host, port = host.port, db = host.db, connection_options = deep_copy(opts),
		timeouts = { config.connect_timeout, config.send_timeout, config.read_timeout },
	})
	local ok, err = r:connect(host.host, host.port, opts)
	if not ok then
		return nil, err
	end
	local username, password = host.username, host.password
	if password and password ~= "" then
		local res
		if username and username ~= "" and username ~= "default" then
			res, err = r:auth(username, password)
		else
			res, err = r:auth(password)
		end
		if err then
			return res, err
		end
	end
	if host.db ~= nil then
		local res, serr = r:select(host.db)
		if serr and serr:find("ERR unknown command", 1, true) then
			local role = r:role()
			if type(role) == "table" and role[1] == "sentinel" then
				serr = nil
			end
		end
		if serr then
			return res, serr
		end
	end
	return r, nil
end

function _M:set_keepalive(red)
	red:discard()
	return red:set_keepalive(self.config.keepalive_timeout, self.config.keepalive_poolsize)
end

return _M
