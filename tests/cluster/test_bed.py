"""The cluster test bed itself: three shards, each a master with one replica, every slot served, on every variant."""

from __future__ import annotations

import pytest
from redis.exceptions import AuthenticationError

from harness.acl import LEAST_PASSWORD, LEAST_USER
from harness.cluster import ALL_SLOTS, MASTERS


@pytest.mark.parametrize("variant", ["redis_cluster", "acl_cluster", "tls_cluster"])
def test_three_shards_with_a_replica_each_serve_every_slot(variant: str, request: pytest.FixtureRequest) -> None:
    topology = request.getfixturevalue(variant)
    rows = topology.rows()
    masters = [row for row in rows if "master" in row["flags"]]
    assert len(masters) == MASTERS
    assert sum(last - first + 1 for row in masters for first, last in row["slots"]) == ALL_SLOTS
    for master in masters:
        assert [row for row in rows if row["master_id"] == master["id"]], f"master {master['address']} has a replica"
    assert all(port + 10000 <= 65535 for port in (node.port for node in topology.nodes))
    client = topology.client()
    try:
        client.mset_nonatomic({f"key{index}": index for index in range(30)})
        holders = {topology.client().keyslot(f"key{index}") // 5462 for index in range(30)}
        assert len(holders) > 1, "the keys spread over several shards"
        assert client.get("key7") == "7"
    finally:
        client.close()


def test_every_test_starts_from_an_empty_cluster(redis_cluster) -> None:
    client = redis_cluster.client()
    try:
        assert client.dbsize() == 0
        client.set("left-behind", "1")
    finally:
        client.close()


def test_the_acl_cluster_refuses_the_default_user_and_knows_the_least_privilege_user(acl_cluster) -> None:
    master = acl_cluster.masters()[0]
    with master.client(username=LEAST_USER, password=LEAST_PASSWORD) as client:
        assert client.ping()
    with master.client(username=None, password=None) as anonymous, pytest.raises(AuthenticationError):
        anonymous.get("x")
