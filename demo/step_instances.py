"""Demo step: a ban made while Redis is down reaches Redis once it is back (the instances as a second source).

BunkerWeb instances cannot run in the demo, so two STAND-IN instances (harness/instances.py) play them:
a local ban datastore behind a real HTTP API on loopback answering ``GET /bans`` in BunkerWeb's wire shape,
writing bans locally first and to Redis second, as ``utils.add_ban`` does. The pass is the real one, given
the instance list BunkerWeb's database would give it. A standalone Redis is used here, so that stopping it
is an outage, not a Sentinel failover.
"""

from __future__ import annotations

from harness.instances import StandInInstance, StandInInstancesDatabase
from harness.servers import RedisServer
from redissync.bans import reconcile
from redissync.bans.instances import BunkerWebInstances, StdlibApi
from redissync.connection import connect
from redissync.settings import load_settings
from redissync.state import StateStore


def run(ctx) -> None:
    ctx.title("Bans Redis never received: each pass also asks the instances for their local bans (GET /bans)")
    server = RedisServer(ctx.workdir / "outage", name="outage").start()
    instances = [StandInInstance(name, server.port).start() for name in ("bw-1", "bw-2")]
    source = BunkerWebInstances(StandInInstancesDatabase(instances), StdlibApi)
    state = StateStore(ctx.workdir / "state-outage")
    ip, key = "198.51.100.23", "bans_ip_198.51.100.23"

    def one_pass(label: str) -> None:
        client = connect(load_settings(server.settings_env()))
        try:
            ctx.say(f"  redissync-bans ({label}): {reconcile(client, state, instances=source).line()}")
        finally:
            client.close()

    try:
        ctx.say(f"Standalone Redis on 127.0.0.1:{server.port}; STAND-IN instances (not BunkerWeb) "
                + ", ".join(f"{i.name} on 127.0.0.1:{i.port}" for i in instances))
        one_pass("first pass")
        server.stop()
        ctx.say("Redis stops (an outage). Meanwhile bw-1 bans an attacker:")
        reached = instances[0].ban(ip, ttl=3600, reason="bad behavior")
        ctx.say(f"  bw-1 bans {ip} for 1 h: written locally, Redis {'took it' if reached else 'unreachable: the ban stays on bw-1'}")
        server.start()
        admin = server.client()
        ctx.say(f"Redis is back (empty). {key}: {'present' if admin.exists(key) else 'MISSING'}; "
                f"bw-2 blocks {ip}: {instances[1].is_banned(ip)}")
        one_pass("after the outage")
        ctx.say(f"  {key}: {admin.ttl(key)} s left in Redis; bw-2 blocks {ip}: {instances[1].is_banned(ip)}")
    finally:
        for instance in instances:
            instance.stop()
        server.stop()
