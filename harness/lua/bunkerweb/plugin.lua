-- Test stand-in for BunkerWeb's plugin base class (src/bw/lua/bunkerweb/plugin.lua), reduced to what that
-- class gives a plugin: id, logger, variables, ctx, is_loading,
-- kind, use_redis, datastore and ret().
local class = require "middleclass"
local datastore = require "bunkerweb.datastore"

local plugin = class("plugin")

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
	self.datastore = datastore:new()
end

function plugin:ret(ret, msg, status, redirect, data)
	return { ret = ret, msg = msg, status = status, redirect = redirect, data = data }
end

return plugin
