-- Test stand-in for BunkerWeb's datastore (src/bw/lua/bunkerweb/datastore.lua, 1.6.13) over the shared dict
-- "datastore": get() answers the value or nil, "not found"; set() is safe_set, with an expiry when given.
local class = require "middleclass"

local datastore = class("datastore")

function datastore:initialize(dict)
	self.dict = dict or ngx.shared.datastore
end

function datastore:get(key)
	local value, err = self.dict:get(key)
	if not value and not err then
		err = "not found"
	end
	return value, err
end

function datastore:set(key, value, exptime)
	if exptime == nil or exptime < 0 then
		return self.dict:safe_set(key, value)
	end
	return self.dict:safe_set(key, value, exptime)
end

return datastore
