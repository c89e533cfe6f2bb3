-- redissync: the Redis Cluster side of /redissync/ping and /redissync/stats (REDIS_CLUSTER_NODES), for redissync.lua.
-- Each seed node on its own connection, in its own pool (plain resty.redis through the connector, which sends AUTH):
-- whether it answers, how fast, its role and the cluster state it sees. One answering seed is enough for a cluster
-- client to find the rest, so only "no seed answered" is an error. BunkerWeb's resty.rediscluster is not used: it
-- hides which node answered, and reachability is a question asked of each node. What one server answers (its role,
-- keys and memory, how TLS went) is read by redissync.lua's own functions, handed in as ``probe``.
local connector = require "resty.redis.connector"
local clock = require "redissync.redissync_clock"

local cluster = {}

local function each_seed(options, ask)
	local rc, nerr = connector.new(options.connector)
	if not rc then
		return nil, "invalid connector options: " .. tostring(nerr)
	end
	local conf, nodes, answered, errors = options.connector, {}, 0, {}
	for _, node in ipairs(options.nodes) do
		local entry = { node = node.host .. ":" .. tostring(node.port), reachable = false }
		local start = clock.now_ms()
		local red, err = rc:connect_to_host({
			host = node.host,
			port = node.port,
			db = 0,
			username = conf.username,
			password = conf.password,
			connection_options = node.connection_options,
		})
		if red then
			entry.connect_ms = clock.now_ms() - start
			local ok, aerr = ask(red, entry)
			if ok then
				entry.reachable = true
				answered = answered + 1
				rc:set_keepalive(red)
			else
				red:close()
				err = aerr
			end
		end
		if not entry.reachable then
			entry.error = tostring(err)
			errors[#errors + 1] = entry.node .. ": " .. entry.error
		end
		nodes[#nodes + 1] = entry
	end
	if answered == 0 then
		return nil, "no seed node of the " .. options.target .. " answered (" .. table.concat(errors, "; ") .. ")"
	end
	return nodes, answered
end

-- The slowest answering seed's figure: the one an alert on this endpoint should see.
local function worst(nodes, name)
	local value = 0
	for _, entry in ipairs(nodes) do
		if entry[name] and entry[name] > value then
			value = entry[name]
		end
	end
	return value
end

-- PING one seed: latency, role and the cluster state it sees.
local function ping_seed(probe)
	return function(red, entry)
		local start = clock.now_ms()
		local pong, err = red:ping()
		if not pong then
			return nil, "PING failed: " .. tostring(err)
		end
		entry.latency_ms = clock.now_ms() - start
		entry.role = probe.role_of(red)
		local info = red:cluster("info")
		entry.cluster_state = type(info) == "string" and info:match("cluster_state:(%w+)") or nil
		return true
	end
end

function cluster.ping(options, probe)
	local nodes, answered = each_seed(options, ping_seed(probe))
	if not nodes then
		return nil, answered
	end
	return {
		target = options.target,
		mode = "cluster",
		tls = probe.describe_tls(options.nodes[1].connection_options),
		role = "cluster",
		seeds = #options.nodes,
		answered = answered,
		nodes = nodes,
		connect_ms = worst(nodes, "connect_ms"),
		latency_ms = worst(nodes, "latency_ms"),
		clock = clock.name,
	}
end

-- The keys and memory of the seed nodes that are masters (a replica holds copies): the whole cluster's when every
-- master is a seed, which the docs advise.
function cluster.stats(options, probe)
	local nodes, answered = each_seed(options, function(red, entry)
		local figures, err = probe.server_stats(red)
		if not figures then
			return nil, "stats failed: " .. err
		end
		for name, value in pairs(figures) do
			entry[name] = value
		end
		return true
	end)
	if not nodes then
		return nil, answered
	end
	local stats = { target = options.target, role = "cluster", server_mode = "cluster", seeds = #options.nodes,
		answered = answered, nodes = nodes, dbsize = 0, used_memory = 0, masters = 0 }
	for _, entry in ipairs(nodes) do
		if entry.reachable then
			stats.server, stats.version = stats.server or entry.server, stats.version or entry.version
			if entry.role == "master" then
				stats.masters = stats.masters + 1
				stats.dbsize = stats.dbsize + entry.dbsize
				stats.used_memory = stats.used_memory + (entry.used_memory or 0)
			end
		end
	end
	stats.used_memory_human = string.format("%.2fM", stats.used_memory / 1048576)
	return stats
end


return cluster
