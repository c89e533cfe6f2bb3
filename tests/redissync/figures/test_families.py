"""What the check's report becomes: Sentinel agreement and cluster shards from the steps' details (the shapes
diagnose/sentinel.py and the cluster diagnosis cache), bounded labels, nothing when a step is absent."""

from __future__ import annotations

from harness.promtool import check_metrics, samples, value
from redissync.diagnose.cluster import shards_from_nodes
from redissync.figures.exposition import render
from redissync.figures.families import check_families, shard_label
from tests.redissync.diagnose.test_cluster import NODES


def report(*steps: dict) -> dict:
    return {"enabled": True, "healthy": True, "steps": list(steps), "warnings": [], "latency_ms": None}


def node(flags: str, link: str = "connected") -> dict:
    return {"id": "x", "address": "10.0.0.9:6379", "host": "10.0.0.9", "port": 6379, "flags": flags.split(","), "link": link}


def test_cluster_shards_by_slot_ranges() -> None:
    shards = [
        {"master": node("master"), "replicas": [node("slave"), node("slave,fail?")], "slots": [[0, 5460]], "state": "ok"},
        {"master": node("master"), "replicas": [node("slave", link="disconnected")], "slots": [[5461, 10922], [16000, 16000]],
         "state": "no replica"},
        {"master": node("master,fail"), "replicas": [], "slots": [[10923, 15999], [16001, 16383]], "state": "fail"},
    ]
    text = check_metrics(render(check_families(report({"id": "cluster-topology", "status": "ok", "details": {"shards": shards}}))))
    assert value(text, "redissync_cluster_shard_up", shard="0-5460") == 1
    assert value(text, "redissync_cluster_shard_replicas", shard="0-5460") == 1  # the fail? one could not take over
    assert value(text, "redissync_cluster_shard_replicas", shard="5461-10922,16000") == 0
    assert value(text, "redissync_cluster_shard_up", shard="10923-15999,16001-16383") == 0
    assert "10.0.0.9" not in text


def test_sentinel_disagreement_and_absent_steps() -> None:
    lookup = {"id": "sentinel-lookup", "status": "ok",
              "details": {"master": "10.0.0.1:6379", "answers": {"s1:26379": "10.0.0.1:6379", "s2:26379": "10.0.0.2:6379",
                                                                 "s3:26379": "10.0.0.1:6379"}}}
    text = check_metrics(render(check_families(report(lookup))))
    assert (value(text, "redissync_sentinel_answers"), value(text, "redissync_sentinel_agreeing")) == (3, 2)
    assert value(text, "redissync_sentinel_agreement") == 0
    assert "10.0.0" not in text and "s1" not in text
    plain = render(check_families(report({"id": "tcp", "status": "ok"})))
    assert "sentinel" not in plain and "cluster" not in plain
    assert render(check_families({"enabled": False})) == ""


def test_cluster_shards_as_the_cluster_diagnosis_reads_them_from_cluster_nodes() -> None:
    """Bound to the diagnosis' own parser: a change of its shard shape breaks this test, not the figures."""
    shards, _ = shards_from_nodes(NODES)
    text = check_metrics(render(check_families(report({"id": "cluster-topology", "status": "fail", "details": {"shards": shards}}))))
    assert {(labels, number) for (name, labels), number in samples(text).items() if name == "redissync_cluster_shard_up"} == {
        (frozenset({("shard", "0-5460")}), 1), (frozenset({("shard", "5461-10922")}), 1), (frozenset({("shard", "10923-16000")}), 0)}
    assert value(text, "redissync_cluster_shard_replicas", shard="0-5460") == 1
    assert value(text, "redissync_cluster_shard_replicas", shard="5461-10922") == 0  # its replica is in fail


def test_a_fragmented_shard_keeps_a_short_label() -> None:
    assert shard_label([[0, 5460]]) == "0-5460"
    assert shard_label([[5461, 10922], [16000, 16000]]) == "5461-10922,16000"
    assert shard_label([[n * 20, n * 20 + 9] for n in range(15)]) == "0-9,20-29,40-49,+12"
