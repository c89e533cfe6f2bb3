-- redissync: the Prometheus exposition every instance serves at GET /redissync/metrics (required as
-- "redissync.redissync_metrics"; docs/observability.md).
--
-- Two halves: this instance's own view of Redis, measured at scrape time (reachability, PING, connect
-- time), and the sections the scheduler's jobs POST after every run (POST /redissync/figures/<job>), kept in
-- BunkerWeb's shared datastore. Redis plays no part in serving: the page works when Redis is down, which is
-- when it matters. The merge mirrors jobs/redissync/figures/exposition.py's merge(): each family's HELP and
-- TYPE once, its samples together, in order of first appearance.
local ngx = ngx

local M = {}

M.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
M.JOBS = { "redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions" }
M.MAX_SECTION_BYTES = 65536 -- jobs/redissync/figures/publish.py sends no more
local KEY_PREFIX = "plugin_redissync_figures_"

local known_job = {}
for _, job in ipairs(M.JOBS) do
	known_job[job] = true
end

local function family_of(line)
	if line:sub(1, 2) == "# " then
		return line:match("^# %u+ (%S+)")
	end
	return line:match("^([%w_:]+)")
end

-- A section is ours only if every line is a redissync_ HELP, TYPE or sample line: an instance never
-- serves text it did not expect, whoever reached its API.
local function check_section(text)
	if #text > M.MAX_SECTION_BYTES then
		return nil, "figures over " .. M.MAX_SECTION_BYTES .. " bytes"
	end
	local number = 0
	for line in text:gmatch("[^\n]+") do
		number = number + 1
		local ok = line:match("^# HELP redissync_[%w_]+ [^\r]*$")
			or line:match("^# TYPE redissync_[%w_]+ %l+$")
			or line:match('^redissync_[%w_]+ [%w%.%+%-]+$')
			or line:match('^redissync_[%w_]+{[%w_]+="[^\r]*"} [%w%.%+%-]+$')
		if not ok then
			return nil, "line " .. number .. " of the figures is not a redissync_ metric line"
		end
	end
	return true
end

-- POST /redissync/figures/<job>: the body is the job's section, as text.
function M.store(datastore, job, text)
	if not known_job[job] then
		return nil, "unknown job"
	end
	local ok, err = check_section(text or "")
	if not ok then
		return nil, err
	end
	return datastore:set(KEY_PREFIX .. job, text)
end

-- The request body, in memory or (past client_body_buffer_size) in nginx's temporary file.
function M.read_body()
	ngx.req.read_body()
	local data = ngx.req.get_body_data()
	if data then
		return data
	end
	local path = ngx.req.get_body_file()
	if not path then
		return ""
	end
	local file = io.open(path, "rb")
	if not file then
		return nil
	end
	data = file:read(M.MAX_SECTION_BYTES + 1)
	file:close()
	return data or ""
end

local function gauge(out, name, help, value)
	out[#out + 1] = "# HELP " .. name .. " " .. help
	out[#out + 1] = "# TYPE " .. name .. " gauge"
	out[#out + 1] = string.format("%s %s", name, value)
end

-- This instance's view: ``ping`` is what redissync.ping() returned (nil when it failed), ``enabled`` false
-- when USE_REDIS is not yes (then nothing is measured).
function M.own(ping, enabled)
	local out = {}
	gauge(out, "redissync_redis_enabled", "1 if USE_REDIS=yes on this instance, else 0.", enabled and 1 or 0)
	if enabled then
		gauge(out, "redissync_redis_up", "1 if this instance connected to Redis and PING answered during this scrape, else 0.", ping and 1 or 0)
	end
	if ping then
		gauge(out, "redissync_redis_ping_seconds", "PING round trip from this instance, measured during this scrape.",
			string.format("%.6f", ping.latency_ms / 1000))
		gauge(out, "redissync_redis_connect_seconds", "Time to get a connection (pooled or new, AUTH and SELECT included).",
			string.format("%.6f", ping.connect_ms / 1000))
	end
	return table.concat(out, "\n") .. "\n"
end

function M.merge(sections)
	local order, heads, samples = {}, {}, {}
	for _, text in ipairs(sections) do
		for line in text:gmatch("[^\n]+") do
			local name = family_of(line)
			if name then
				if not heads[name] then
					order[#order + 1] = name
					heads[name], samples[name] = {}, {}
				end
				if line:sub(1, 2) == "# " then
					local kind = line:match("^# (%u+)")
					if not heads[name][kind] then
						heads[name][kind] = true
						heads[name][#heads[name] + 1] = line
					end
				else
					samples[name][#samples[name] + 1] = line
				end
			end
		end
	end
	local out = {}
	for _, name in ipairs(order) do
		for _, line in ipairs(heads[name]) do
			out[#out + 1] = line
		end
		for _, line in ipairs(samples[name]) do
			out[#out + 1] = line
		end
	end
	return #out > 0 and table.concat(out, "\n") .. "\n" or ""
end

-- The whole page: our own view first, then each job's last section.
function M.exposition(datastore, ping, enabled)
	local sections = { M.own(ping, enabled) }
	for _, job in ipairs(M.JOBS) do
		local text = datastore:get(KEY_PREFIX .. job)
		if text then
			sections[#sections + 1] = text
		end
	end
	return M.merge(sections)
end

return M
