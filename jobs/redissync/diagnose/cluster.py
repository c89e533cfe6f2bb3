"""The Redis Cluster half of the diagnosis (REDIS_CLUSTER_NODES): every seed node, the cluster's state, its shards,
every node at the address the cluster announces, then redis-py's own cluster client.

Clients need one answering seed: a seed that fails is a warning. The cluster's own faults are findings naming what
to change: slots no node serves, a master in ``fail``, a shard without a replica, a node announcing an address
this machine cannot reach (``cluster-announce-ip`` behind NAT or Docker), an ACL rule without a command the
cluster client needs. The shards (master, replicas, slot ranges, state, keys) are data in the topology step's
``details["shards"]``, which the check job caches for the page and ``bwcli plugin redissync check`` prints.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisClusterException, RedisError, ResponseError

from ..connection import explain, make_cluster
from ..errors import StepError
from ..keyspace import ALL_SLOTS
from ..net import host_port
from ..reports import CLUSTER_CLIENT, CLUSTER_INFO, CLUSTER_NODES, CLUSTER_TOPOLOGY, SEED_AUTH, SEED_DNS, SEED_TCP, SEED_TLS
from .endpoints import Endpoints, first_line
from .network import Endpoint, resolve, tcp_connect
from .protocol import facts_summary, facts_warnings
from .steps import Walk
from .tls import tls_probe, tls_summary, verification_sentence

# What redis-py's cluster client sends besides the data commands: the slot map (on start and after every MOVED)
# and the command table (COMMAND: where each command's keys are, to route it).
CLIENT_COMMANDS = ("cluster|slots", "command")
# What the diagnosis reads: the state (CLUSTER INFO) and the shards with each node's flags (CLUSTER NODES).
CHECK_COMMANDS = ("cluster|info", "cluster|nodes")


class Seeds(Endpoints):
    noun = "seed node"
    setting = "REDIS_CLUSTER_NODES"

    def __init__(self, walk: Walk):
        super().__init__(walk, [Endpoint(node.host, node.port, "seed") for node in walk.config.cluster_nodes])

    def redis_sentence(self, endpoint: Endpoint, error: RedisError) -> str:
        return acl_sentence(self.walk, error) or f"{endpoint.label} answered an error ({first_line(error)}): check {self.setting}"


def acl_sentence(walk: Walk, error: BaseException, sent: str = "") -> str | None:
    """NOPERM: which command the ACL user lacks, and what needs it. Redis 7 names the subcommand in its reply; 6.2
    names only ``cluster``, so the caller says what it ``sent`` (the ACL name, e.g. ``cluster|info``)."""
    text = first_line(error)
    if "NOPERM" not in text and "no permissions to run" not in text:
        return None
    user = walk.config.username or "the default user"
    lowered = text.lower()
    command = next((c for c in (*CLIENT_COMMANDS, *CHECK_COMMANDS) if f"'{c}'" in lowered or f"'{c}|" in lowered), sent)
    if command in CLIENT_COMMANDS:
        need = "redis-py's cluster client sends it to learn the slot map and how to route each command"
    else:
        need = "the check reads the cluster's state and shards with it"
    return (f"the ACL user {user} may not run {command.upper().replace('|', ' ') or 'a cluster command'} ({text}): {need}: "
            f"add +{command or 'cluster|slots'} to its rule on every node (docs/least-privilege.md, Redis Cluster)")


def walk_cluster(walk: Walk) -> None:
    seeds = Seeds(walk)
    with walk.step(SEED_DNS, "DNS resolution (seed nodes)") as step:
        seeds.each(step, lambda ep: f"{ep.host} → {', '.join(resolve(ep, walk.budget()))}")
    with walk.step(SEED_TCP, "TCP connect (seed nodes)") as step:
        seeds.each(step, lambda ep: f"accepted (peer {tcp_connect(ep, walk.budget())})")
    if walk.config.ssl:
        with walk.step(SEED_TLS, "TLS handshake (seed nodes)") as step:
            seeds.each(step, lambda ep: _seed_tls(walk, ep))
    else:
        walk.skip(SEED_TLS, "TLS handshake (seed nodes)", "skipped: REDIS_SSL=no")
    with walk.step(SEED_AUTH, "AUTH (seed nodes)") as step:
        seeds.each(step, seeds.authenticate)
        if not (walk.config.password or walk.config.username):
            step.warnings.append("the cluster accepts clients without a password (REDIS_PASSWORD empty): anyone who reaches "
                                 "a node can read and lift bans; set requirepass (or an ACL user) on every node")
    seed = seeds.alive[0]
    with walk.step(CLUSTER_INFO, "cluster state") as step:
        info = _cluster_info(seeds, seed)
        step.details = {"seed": seed.address, "info": info}
        step.summary = (f"cluster_state:{info.get('cluster_state')}, slots assigned {info.get('cluster_slots_assigned')} / ok "
                        f"{info.get('cluster_slots_ok')} / pfail {info.get('cluster_slots_pfail')} / fail "
                        f"{info.get('cluster_slots_fail')}, {info.get('cluster_known_nodes')} nodes known, "
                        f"{info.get('cluster_size')} shard(s) serving slots (seen by {seed.address})")
        if info.get("cluster_state") != "ok":
            step.warnings.append(f"{seed.label} reports cluster_state:{info.get('cluster_state')}: the cluster refuses "
                                 "commands on the slots it cannot serve (see the shards below)")
    with walk.step(CLUSTER_TOPOLOGY, "shards") as topology:
        shards, others = shards_from_nodes(_ask(seeds, seed, "cluster|nodes", "CLUSTER", "NODES"))
        topology.details = {"shards": shards, "other_nodes": others}
        topology.lines.extend(shard_line(shard) for shard in shards)
        topology.lines.extend(f"{node['address']}: {','.join(node['flags'])} (serves no slot)" for node in others)
        topology.summary = f"{len(shards)} shard(s), {sum(len(shard['replicas']) for shard in shards)} replica(s)"
        _topology_findings(topology, shards, others)
    try:
        with walk.step(CLUSTER_NODES, "every node, as announced") as step:
            _visit_nodes(walk, step, shards)
    finally:  # the shards as printed and cached carry what the visit learnt (keys, reachability)
        topology.lines[:len(shards)] = [shard_line(shard) for shard in shards]
    with walk.step(CLUSTER_CLIENT, "redis-py cluster client") as step:
        step.summary = _client_check(walk)


def _seed_tls(walk: Walk, endpoint: Endpoint) -> str:
    result = tls_probe(endpoint, walk.config, walk.budget)
    if result.verified is False:
        raise StepError(verification_sentence(endpoint, result))
    return tls_summary(result)


def _ask(seeds: Seeds, seed: Endpoint, acl_name: str, *command: str) -> Any:
    """One command to the seed; its refusal as a sentence (not a cluster node, or the ACL grant ``acl_name`` missing)."""
    try:
        return seeds.query(seed, *command)
    except ResponseError as error:
        if "cluster support disabled" in str(error).lower():
            raise StepError(f"REDIS_CLUSTER_NODES lists {seed.address}, which is not in cluster mode (cluster-enabled no): "
                            "list the nodes of a Redis Cluster, or leave REDIS_CLUSTER_NODES empty and set REDIS_HOST "
                            "for a standalone server") from None
        raise StepError(acl_sentence(seeds.walk, error, acl_name)
                        or f"{seed.label} refused {' '.join(command)} ({first_line(error)})") from None


def _cluster_info(seeds: Seeds, seed: Endpoint) -> dict[str, str]:
    _ask(seeds, seed, "cluster|slots", "CLUSTER", "SLOTS")  # the client's needs first: without them every job fails
    _ask(seeds, seed, "command", "COMMAND", "COUNT")  # the client sends COMMAND: the same ACL grant, a short reply
    text = _ask(seeds, seed, "cluster|info", "CLUSTER", "INFO")
    return dict(line.split(":", 1) for line in str(text).splitlines() if ":" in line)


# -- the shards -------------------------------------------------------------------------------------------
def parse_nodes(text: str) -> list[dict[str, Any]]:
    """``CLUSTER NODES`` (Redis 6.2 to 8, Valkey): ``<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong>
    <epoch> <link> <slot>...``; importing/migrating entries (``[...]``) are not served slots."""
    rows = []
    for line in str(text).strip().splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        host, _, port_text = fields[1].split("@")[0].rpartition(":")
        slots = [[int(bound) for bound in item.split("-")] * (1 if "-" in item else 2)
                 for item in fields[8:] if not item.startswith("[")]
        host, port = host.strip("[]"), int(port_text or 0)
        rows.append({"id": fields[0], "host": host, "port": port, "address": host_port(host, port),
                     "flags": [flag for flag in fields[2].split(",") if flag != "myself"],
                     "master_id": None if fields[3] == "-" else fields[3], "link": fields[7], "slots": slots})
    return rows


def shards_from_nodes(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Masters with slots (ordered by first slot), each with its replicas; and the nodes that serve nothing."""
    rows = parse_nodes(text)
    shards = []
    for master in sorted((row for row in rows if "master" in row["flags"] and row["slots"]), key=lambda row: row["slots"][0][0]):
        replicas = [_node(row) for row in rows if row["master_id"] == master["id"]]
        shard = {"master": _node(master), "replicas": replicas, "slots": master["slots"],
                 "slot_count": sum(last - first + 1 for first, last in master["slots"]), "keys": None}
        shard["state"] = _shard_state(shard)
        shards.append(shard)
    in_shards = {shard["master"]["id"] for shard in shards} | {r["id"] for shard in shards for r in shard["replicas"]}
    return shards, [_node(row) for row in rows if row["id"] not in in_shards]


def _node(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("id", "address", "host", "port", "flags", "link")} | {"reachable": None}


def _failed(node: dict[str, Any]) -> bool:
    return "fail" in node["flags"]


def _down(node: dict[str, Any]) -> bool:
    return "fail" in node["flags"] or "fail?" in node["flags"] or node["link"] != "connected"


def _shard_state(shard: dict[str, Any]) -> str:
    if _failed(shard["master"]):
        return "fail"
    if not [replica for replica in shard["replicas"] if not _down(replica)]:
        return "no replica"
    return "ok"


def ranges_text(ranges: list[list[int]]) -> str:
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges)


def shard_line(shard: dict[str, Any]) -> str:
    master = shard["master"]
    replicas = ", ".join(f"{r['address']} ({','.join(r['flags'])}, link {r['link']})" for r in shard["replicas"]) or "none"
    keys = f", {shard['keys']} keys" if shard["keys"] is not None else ""
    return (f"slots {ranges_text(shard['slots'])} ({shard['slot_count']}): master {master['address']} "
            f"({','.join(master['flags'])}){keys}; replicas: {replicas}; state {shard['state']}")


def uncovered(shards: list[dict[str, Any]]) -> list[list[int]]:
    covered = sorted(tuple(r) for shard in shards for r in shard["slots"])
    gaps, next_slot = [], 0
    for first, last in covered:
        if first > next_slot:
            gaps.append([next_slot, first - 1])
        next_slot = max(next_slot, last + 1)
    return gaps + ([[next_slot, ALL_SLOTS - 1]] if next_slot < ALL_SLOTS else [])


def _topology_findings(step: Any, shards: list[dict[str, Any]], others: list[dict[str, Any]]) -> None:
    gaps = uncovered(shards)
    failed = [shard for shard in shards if shard["state"] == "fail"]
    for shard in shards:
        if shard["state"] == "no replica":
            step.warnings.append(f"the shard of master {shard['master']['address']} (slots {ranges_text(shard['slots'])}) has no "
                                 "working replica: if that master fails, its slots stop being served; add one "
                                 "(redis-cli --cluster add-node <new> <existing> --cluster-slave)")
        for node in (shard["master"], *shard["replicas"]):
            if "fail?" in node["flags"]:
                step.warnings.append(f"node {node['address']} is suspected down (pfail): if it stays so, it is failed over")
    for node in others:
        if "fail" in node["flags"]:
            step.warnings.append(f"node {node['address']} is in fail and serves no slot: bring it back (it rejoins as a "
                                 "replica) or remove it (CLUSTER FORGET on every node)")
    if failed:
        shard = failed[0]
        raise StepError(f"master {shard['master']['address']} is in fail and no replica took over its slots "
                        f"({ranges_text(shard['slots'])}): writes to those slots fail (bans there are lost for every "
                        "instance); restart it, or promote a replica (CLUSTER FAILOVER FORCE on the replica)")
    if gaps:
        raise StepError(f"slots {ranges_text(gaps)} ({sum(b - a + 1 for a, b in gaps)}) are served by no node: keys hashed "
                        "there cannot be read or written; assign them (redis-cli --cluster fix <any node>)")


# -- every node at its announced address ----------------------------------------------------------------------
def _visit_nodes(walk: Walk, step: Any, shards: list[dict[str, Any]]) -> None:
    """TCP + AUTH on every node at the address the cluster announces (what clients are redirected to), and the
    keys each master holds. A master this machine cannot reach fails the check; a replica is a warning."""
    masters_failed: list[str] = []
    for shard in shards:
        for role, node in (("master", shard["master"]), *(("replica", replica) for replica in shard["replicas"])):
            if _failed(node):
                step.lines.append(f"– {role} {node['address']}: in fail, not visited")
                continue
            endpoint = Endpoint(node["host"], node["port"], "node")
            try:
                tcp_connect(endpoint, walk.budget())
                session = walk.session(endpoint)
                session.authenticate(walk.budget)
            except StepError as error:
                node["reachable"] = False
                sentence = (f"{role} {node['address']} is announced by the cluster but this machine cannot use it ({error}): "
                            "the cluster tells clients to reach each node at the address it announces; set "
                            "cluster-announce-ip (and cluster-announce-port/-tls-port) on that node to an address the "
                            "BunkerWeb hosts can reach (NAT, Docker), or fix the route")
                (masters_failed if role == "master" else step.warnings).append(sentence)
                step.lines.append(f"✗ {role} {node['address']}")
                continue
            node["reachable"] = True
            if role == "master":
                shard["keys"] = int(session.command(walk.budget, "DBSIZE"))
                facts, _ = session.facts(walk.budget)
                if not walk.report.facts:
                    walk.report.facts = facts
                    walk.report.latency_ms = session.ping(walk.budget)
                step.warnings.extend(facts_warnings(endpoint, facts))
                step.lines.append(f"✓ master {node['address']}: {shard['keys']} keys; {facts_summary(facts)}")
            else:
                step.lines.append(f"✓ replica {node['address']}: reachable, authenticated")
    if masters_failed:
        raise StepError(masters_failed[0])
    total = sum(shard["keys"] or 0 for shard in shards)
    step.summary = f"every master reachable at its announced address; {total} keys over {len(shards)} shard(s)"


def _client_check(walk: Walk) -> str:
    """The client the jobs will use, built from the seeds exactly as they build it: PING on every master."""
    try:
        client = make_cluster(walk.config)
    except (RedisError, RedisClusterException) as error:  # RedisClusterException is no RedisError
        raise StepError(acl_sentence(walk, error) or explain(error, walk.config)) from None
    try:
        replies = client.ping(target_nodes=client.PRIMARIES)
        primaries = len(client.get_primaries())
    except (RedisError, RedisClusterException) as error:
        raise StepError(explain(error, walk.config)) from None
    finally:
        client.close()
    if replies is not True:
        raise StepError(f"redis-py's cluster client got {replies!r} to PING from the masters")
    return f"started from the seed nodes, {primaries} master(s) answer PING"

