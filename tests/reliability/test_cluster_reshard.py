"""Issue 22's scenario: a reshard of some slots while bans passes run (MOVED/ASK) loses nothing and double-applies
nothing. Once by hand, deterministically (CLUSTER SETSLOT MIGRATING/IMPORTING and MIGRATE of part of a slot's keys,
a pass in between), once with ``redis-cli --cluster reshard`` moving slots while passes run back to back."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterable

import pytest

from harness.bans import run_pass
from harness.cluster import ClusterTopology, redis_cli
from redissync.bans.cycle import PassResult
from redissync.keys import BanKey, bad_behavior_key
from tests.redissync.bans.clusterbans import by_master, write_cluster_ban

pytestmark = pytest.mark.slow

TAGGED = "192.0.2.77"  # its global ban and its service bans share one hash tag, so one slot
SERVICES = ["shop", "blog", "api", "www"]


def write_bans(topology: ClusterTopology, bans: Iterable[BanKey]) -> list[str]:
    client = topology.client()
    keys = [write_cluster_ban(client, ban.ip, ban.service) for ban in bans]
    client.close()
    return keys


def holders(topology: ClusterTopology, keys: list[str]) -> dict[str, int]:
    """On how many masters each key lives, read on each master (a key on two nodes would count twice)."""
    held = Counter(key for keys_held in by_master(topology, keys).values() for key in keys_held)
    return {key: held[key] for key in keys}


def node_id(node) -> str:
    with node.client() as client:
        return client.execute_command("CLUSTER", "MYID").decode()


def test_a_pass_in_the_middle_of_a_slot_migration(make_cluster) -> None:
    topology = make_cluster()
    bans = [BanKey(f"198.51.100.{i}") for i in range(60)] + [BanKey(TAGGED)] + [BanKey(TAGGED, s) for s in SERVICES]
    keys = write_bans(topology, bans)
    admin = topology.client()
    counter = bad_behavior_key(TAGGED, "shop", cluster=True)  # same slot: moves with the bans
    admin.set(counter, 4, ex=600)
    assert run_pass(topology).new == len(keys)

    slot = admin.keyslot(BanKey(TAGGED).key_in(True))
    source = next(m for m in topology.masters() if m.port == admin.get_node_from_key(BanKey(TAGGED).key_in(True)).port)
    target = next(m for m in topology.masters() if m is not source)
    with source.client() as src, target.client() as dst:
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(source))
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(target))
        in_slot = sorted(key.decode() for key in src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100))
        assert len(in_slot) == len(SERVICES) + 2
        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *in_slot[:3])
        lifted = next(key for key in in_slot[3:] if key.startswith("bans_service_shop_"))
        src.delete(lifted)  # an instance lifts a ban of the moving slot, on the node still holding it

        during = run_pass(topology)  # half the slot on each node: MOVED/ASK on every read of it
        assert (during.unbans, during.restored, during.kept) == (0, 0, 0), during.line()
        assert set(holders(topology, keys).values()) == {0, 1}, "no ban written twice, on two nodes"

        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS",
                            *(key.decode() for key in src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)))
        for node in (target, source, *(m for m in topology.masters() if m not in (source, target))):
            with node.client() as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id(target))
    topology.wait_ready()

    after = run_pass(topology)
    assert (after.seen, after.new, after.unbans, after.restored, after.counters_cleared) == (len(keys) - 1, 0, 1, 0, 1), after.line()
    assert not admin.exists(counter) and not admin.exists(lifted)
    placed = holders(topology, keys)
    assert placed.pop(lifted) == 0
    assert set(placed.values()) == {1}, "every other ban on exactly one master"
    steady = run_pass(topology)
    assert (steady.seen, steady.new, steady.changed, steady.unbans, steady.restored) == (len(keys) - 1, 0, 0, 0, 0)
    admin.close()


def test_passes_back_to_back_while_redis_cli_reshards(make_cluster) -> None:
    topology = make_cluster()
    keys = write_bans(topology, [BanKey(f"10.1.{i // 250}.{i % 250}") for i in range(1500)])
    assert run_pass(topology).new == len(keys)
    source, target = topology.masters()[:2]
    command = [redis_cli(), "--cluster", "reshard", f"127.0.0.1:{source.port}", "--cluster-from", node_id(source),
               "--cluster-to", node_id(target), "--cluster-slots", "1500", "--cluster-yes", "--cluster-pipeline", "5"]
    outcome: dict[str, subprocess.CompletedProcess[str]] = {}
    reshard = threading.Thread(target=lambda: outcome.update(done=subprocess.run(command, capture_output=True, text=True, timeout=300)))
    reshard.start()
    during: list[PassResult] = []
    while reshard.is_alive():
        during.append(run_pass(topology))
    reshard.join()
    assert outcome["done"].returncode == 0, outcome["done"].stdout[-800:]
    assert len(during) >= 2, "passes ran while slots moved"
    for result in during:
        assert (result.unbans, result.restored) == (0, 0), result.line()
    topology.wait_ready()
    after = run_pass(topology)
    assert (after.seen, after.new, after.unbans, after.restored) == (len(keys), 0, 0, 0), after.line()
    assert set(holders(topology, keys).values()) == {1}
    client = topology.client()
    assert json.loads(client.get(keys[0]))["reason"] == "bad behavior"
    client.close()
