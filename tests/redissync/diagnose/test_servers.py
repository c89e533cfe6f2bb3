"""Servers as users know them, on what real servers answered (tests/data/servers: INFO captured from Redis 7.0.15,
7.4.1, 8.0-m01 and Valkey 8.0.1, see its README), and a real cluster-mode node refused by the diagnosis."""

from __future__ import annotations

from pathlib import Path

import pytest

from redissync.diagnose import diagnose
from redissync.diagnose.protocol import facts_from_info, facts_summary, parse_info

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "servers"

# capture → (server, mode, cluster) as the diagnosis must report them
EXPECTED = {
    "redis-7.0.15-debian.info.txt": ("Redis 7.0.15", "standalone", False),
    "redis-7.4.1.info.txt": ("Redis 7.4.1", "standalone", False),
    "redis-7.4.1.cluster-node.info-server.txt": ("Redis 7.4.1", "cluster", True),
    "redis-8.0-m01.info.txt": ("Redis 7.9.224", "standalone", False),
    "redis-8.0-m01.cluster-node.info-server.txt": ("Redis 7.9.224", "cluster", True),
    "valkey-8.0.1.info.txt": ("Valkey 8.0.1", "standalone", False),
    "valkey-8.0.1.cluster-node.info-server.txt": ("Valkey 8.0.1", "cluster", True),
}


def captured_info(name: str) -> dict[str, str]:
    return parse_info((CAPTURES / name).read_text(encoding="utf-8"))


def test_every_capture_is_checked() -> None:
    assert sorted(path.name for path in CAPTURES.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("capture", sorted(EXPECTED))
def test_server_name_version_and_mode_from_whichever_fields_exist(capture: str) -> None:
    server, mode, cluster = EXPECTED[capture]
    facts = facts_from_info(captured_info(capture), save="", database=0)
    assert (facts["server"], facts["mode"], facts["cluster"]) == (server, mode, cluster)
    if not cluster:  # the INFO everything captures: the summary users read
        assert facts_summary(facts).startswith(f"{server} standalone master, up ")


def test_valkey_is_not_reported_by_its_compatibility_version() -> None:
    info = captured_info("valkey-8.0.1.info.txt")
    assert info["redis_version"] == "7.2.4"  # Valkey's fixed compatibility value: never what we show
    assert "7.2.4" not in facts_summary(facts_from_info(info, save="", database=0))


@pytest.mark.compat
def test_a_cluster_mode_node_fails_the_check_naming_the_cause(cluster_node) -> None:
    node = cluster_node
    report = diagnose(node.settings_env())
    assert not report.healthy, report.render_text()
    assert report.failure.id == "server", report.render_text()
    assert report.facts["cluster"] is True
    assert report.facts["mode"] == "cluster"
    sentence = report.failure.sentence
    assert "cluster mode" in sentence
    assert "but REDIS_CLUSTER_NODES is empty" in sentence
    assert "list the cluster's nodes in REDIS_CLUSTER_NODES" in sentence
    assert "REDIS_HOST" in sentence
    other_db = diagnose(node.settings_env(REDIS_DATABASE="1"))  # a cluster has db 0 only: SELECT says why
    assert (other_db.failure.id, other_db.failure.sentence) == ("select", sentence), other_db.render_text()
