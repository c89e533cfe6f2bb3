-- Test stand-in for lua-resty-redis-connector's resty.redis.sentinel: get_master only.
local _M = {}

function _M.get_master(sentinel, master_name)
	local res, err = sentinel:sentinel("get-master-addr-by-name", master_name)
	if type(res) == "table" and res[1] and res[2] then
		return { host = res[1], port = res[2] }
	end
	return nil, err or "master unknown"
end

return _M
