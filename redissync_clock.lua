-- redissync: the clock redissync.lua measures latencies with (required as "redissync.redissync_clock").
local ngx = ngx

-- ngx.now() advances in whole milliseconds, coarser than a PING on a LAN (every latency read 0.0 ms). LuaJIT's
-- FFI reads CLOCK_MONOTONIC instead (nanoseconds, immune to wall-clock steps). The libc symbol is declared under a
-- name of our own, so another module's declaration of clock_gettime cannot clash. Without FFI, latencies are
-- whole milliseconds and every report says so.
local CLOCK_MONOTONIC = 1 -- Linux

local function monotonic_clock()
	local loaded, ffi = pcall(require, "ffi")
	if not loaded then
		return nil
	end
	local declared = pcall(ffi.cdef, [[
		typedef struct { long sec; long nsec; } redissync_timespec_t;
		int redissync_clock_gettime(int clock, redissync_timespec_t *now) __asm__("clock_gettime");
	]]) or pcall(ffi.typeof, "redissync_timespec_t")
	if not declared then
		return nil
	end
	local now = ffi.new("redissync_timespec_t")
	local function read_ms()
		if ffi.C.redissync_clock_gettime(CLOCK_MONOTONIC, now) ~= 0 then
			return nil
		end
		return tonumber(now.sec) * 1000 + tonumber(now.nsec) / 1e6
	end
	local works, first = pcall(read_ms)
	return works and first and read_ms or nil
end

local function coarse_ms()
	ngx.update_time()
	return ngx.now() * 1000
end

local fine_clock = monotonic_clock()
local clock = {
	now_ms = fine_clock or coarse_ms,
	name = fine_clock and "monotonic" or "ngx.now (1 ms)",
}

-- "0.42 ms" from the fine clock; whole milliseconds, marked as such, from ngx.now().
function clock.format_ms(ms)
	if fine_clock then
		return string.format("%.2f ms", ms)
	end
	return string.format("%d ms (1 ms clock)", math.floor(ms + 0.5))
end

return clock
