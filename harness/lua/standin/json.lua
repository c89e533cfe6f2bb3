-- Minimal JSON encoder for the test harness (Debian's nginx Lua module ships no cjson).
local json = {}

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function encode_string(s)
	return '"' .. s:gsub('[%c"\\]', function(c)
		return escapes[c] or string.format("\\u%04x", c:byte())
	end) .. '"'
end

local function is_array(t)
	local n = 0
	for _ in pairs(t) do
		n = n + 1
	end
	return n > 0 and n == #t
end

function json.encode(value)
	local kind = type(value)
	if value == nil or value == ngx.null then
		return "null"
	elseif kind == "boolean" then
		return tostring(value)
	elseif kind == "number" then
		return value == math.floor(value) and string.format("%d", value) or string.format("%.17g", value)
	elseif kind == "string" then
		return encode_string(value)
	elseif kind == "table" then
		local parts = {}
		if is_array(value) then
			for _, item in ipairs(value) do
				parts[#parts + 1] = json.encode(item)
			end
			return "[" .. table.concat(parts, ",") .. "]"
		end
		local keys = {}
		for k in pairs(value) do
			keys[#keys + 1] = tostring(k)
		end
		table.sort(keys)
		for _, k in ipairs(keys) do
			parts[#parts + 1] = encode_string(k) .. ":" .. json.encode(value[k])
		end
		return "{" .. table.concat(parts, ",") .. "}"
	end
	error("cannot encode a " .. kind)
end

return json
