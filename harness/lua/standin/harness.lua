-- Test harness: the part of BunkerWeb that drives a plugin's api() and init_worker(), plus endpoints
-- the tests read (the rendered options as Lua loaded them, what the connector stand-in received).
local json = require "standin.json"
local connector = require "resty.redis.connector"

local _M = {}

local function plugin_class()
	return require "redissync/redissync"
end

local function reply(status, body)
	ngx.status = status
	ngx.header["Content-Type"] = "application/json"
	ngx.say(json.encode(body))
	return ngx.exit(status)
end

-- Like BunkerWeb's api.lua (run from access_by_lua, as api.conf does): ctx.bw carries uri and method, the
-- plugin's api() is called under pcall (helpers.call_plugin), a claimed call answers {status, msg}.
function _M.api()
	local ctx = { bw = { uri = ngx.var.uri, request_method = ngx.req.get_method() } }
	local object = plugin_class():new(ctx)
	local ok, ret = pcall(object.api, object)
	if not ok then
		return reply(ngx.HTTP_INTERNAL_SERVER_ERROR, { status = "error", msg = "api() failed: " .. tostring(ret) })
	end
	if not ret.ret then
		return reply(ngx.HTTP_NOT_FOUND, { status = "error", msg = "not found" })
	end
	return reply(ret.status, { status = ret.status == ngx.HTTP_OK and "success" or "error", msg = ret.msg })
end

-- Like BunkerWeb's init_worker: one worker, in a timer (cosockets allowed).
function _M.init_worker()
	if ngx.worker.id() ~= 0 then
		return
	end
	ngx.timer.at(0, function()
		local ret = plugin_class():new():init_worker()
		ngx.log(ngx.INFO, "harness: init_worker returned ", tostring(ret.ret))
	end)
end

function _M.options()
	local options, err = plugin_class().load_options()
	if not options then
		return reply(ngx.HTTP_INTERNAL_SERVER_ERROR, { error = err })
	end
	return reply(ngx.HTTP_OK, options)
end

-- redissync.server_of on an INFO text POSTed by the test (captures of real servers: tests/data/servers).
function _M.server_of()
	ngx.req.read_body()
	local server, version, mode = plugin_class().server_of(ngx.req.get_body_data() or "")
	return reply(ngx.HTTP_OK, { server = server, version = version, mode = mode })
end

function _M.recorded()
	local recorded = connector.recorded
	if ngx.req.get_method() == "DELETE" then
		connector.recorded = { configs = {}, connections = {} }
	end
	return reply(ngx.HTTP_OK, recorded)
end

return _M
