-- Test stand-in for lua-resty-redis (not packaged by Debian): a small RESP2 client on ngx cosockets
-- with the same connect() semantics: pool options go to sock:connect, then sslhandshake with
-- server_name and ssl_verify (ngx_lua skips the handshake on a pooled, already secured socket).
local null = ngx.null

local _M = {}
local mt = { __index = _M }

function _M.new()
	local sock, err = ngx.socket.tcp()
	if not sock then
		return nil, err
	end
	return setmetatable({ _sock = sock }, mt)
end

function _M:set_timeouts(connect, send, read)
	self._sock:settimeouts(connect, send, read)
end

function _M:connect(host, port, opts)
	opts = opts or {}
	local ok, err = self._sock:connect(host, port, { pool = opts.pool, pool_size = opts.pool_size, backlog = opts.backlog })
	if not ok then
		return nil, err
	end
	if opts.ssl then
		ok, err = self._sock:sslhandshake(false, opts.server_name, opts.ssl_verify)
		if not ok then
			return nil, "failed to do ssl handshake: " .. tostring(err)
		end
	end
	return 1
end

function _M:get_reused_times()
	return self._sock:getreusedtimes()
end

local function read_reply(sock)
	local line, err = sock:receive()
	if not line then
		return nil, err
	end
	local prefix, rest = line:sub(1, 1), line:sub(2)
	if prefix == "+" then
		return rest
	elseif prefix == "-" then
		return false, rest
	elseif prefix == ":" then
		return tonumber(rest)
	elseif prefix == "$" then
		local size = tonumber(rest)
		if size < 0 then
			return null
		end
		local data, rerr = sock:receive(size + 2)
		if not data then
			return nil, rerr
		end
		return data:sub(1, size)
	elseif prefix == "*" then
		local count = tonumber(rest)
		if count < 0 then
			return null
		end
		local items = {}
		for i = 1, count do
			local item, ierr = read_reply(sock)
			if item == nil then
				return nil, ierr
			end
			items[i] = item
		end
		return items
	end
	return nil, "bad reply: " .. prefix
end

function _M:command(...)
	local args = { ... }
	local parts = { "*" .. #args .. "\r\n" }
	for _, arg in ipairs(args) do
		arg = tostring(arg)
		parts[#parts + 1] = "$" .. #arg .. "\r\n" .. arg .. "\r\n"
	end
	local ok, err = self._sock:send(table.concat(parts))
	if not ok then
		return nil, err
	end
	return read_reply(self._sock)
end

for _, name in ipairs({ "ping", "auth", "select", "role", "info", "dbsize", "discard", "sentinel", "cluster", "get", "set" }) do
	_M[name] = function(self, ...)
		return self:command(name, ...)
	end
end

function _M:set_keepalive(timeout, size)
	return self._sock:setkeepalive(timeout, size)
end

function _M:close()
	return self._sock:close()
end

return _M
