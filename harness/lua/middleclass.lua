-- Test stand-in for middleclass (bundled by BunkerWeb): class(name, super), Class:new(...) calls
-- initialize, methods inherited through __index. Only what BunkerWeb plugins use.
local function class(name, super)
	local cls = { name = name, super = super }
	cls.__index = cls
	if super then
		setmetatable(cls, { __index = super })
	end
	function cls.new(_, ...)
		local instance = setmetatable({}, cls)
		if instance.initialize then
			instance:initialize(...)
		end
		return instance
	end
	return cls
end
return class
