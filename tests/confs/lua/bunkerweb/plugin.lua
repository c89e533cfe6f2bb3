-- Test stand-in for BunkerWeb's plugin base class (src/bw/lua/bunkerweb/plugin.lua), reduced to what that
-- class gives a plugin: id, logger, variables, ctx, is_loading,
-- kind, use_redis, datastore and ret().
local class = require "middleclass"

local plugin = class("plugin")

-- BunkerWeb's datastore (src/bw/lua/bunkerweb/datastore.lua, 1.6.13) over the shared dict "datastore":
-- get() answers value or nil, "not found"; set() is safe_set, with an expiry when one is given.
local datastore = {}
datastore.__index = datastore

function datastore:get(key)
	local value, err = ngx.shared.datastore:get(key)
	if not value and not err then
		err = "not found"
	end
	return value, err
end

function datastore:set(key, value, exptime)
	if exptime == nil or exptime < 0 then
		return ngx.shared.datastore:safe_set(key, value)
	end
	return ngx.shared.datastore:safe_set(key, value, exptime)
end

local logger = {}
logger.__index = logger

function logger:log(level, msg)
	ngx.log(level, "[", self.id:upper(), "] ", msg)
end

function plugin:initialize(id, ctx)
	self.id = id
	self.logger = setmetatable({ id = id }, logger)
	self.variables = package.loaded["standin.variables"] or {}
	self.use_redis = self.variables["USE_REDIS"] == "yes"
	self.ctx = ctx or ngx.ctx
	self.is_loading = false
	self.is_request = false
	self.kind = "http"
	self.datastore = setmetatable({}, datastore)
end

function plugin:ret(ret, msg, status, redirect, data)
	return { ret = ret, msg = msg, status = status, redirect = redirect, data = data }
end

return plugin
