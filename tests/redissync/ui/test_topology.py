"""The Sentinel topology section reads each sentinel's outcome from the steps' details, never their text lines."""

from __future__ import annotations

from redissync.ui.topology import topology

PUBLIC = {"mode": "sentinel", "sentinel_master": "mymaster"}


def _check(lines_too: bool = False) -> dict:
    tcp = {"id": "sentinel-tcp", "title": "TCP connect (sentinels)", "details": {"sentinels": [
        {"address": "10.0.0.1:26379", "ok": True, "summary": "accepted"},
        {"address": "10.0.0.2:26379", "ok": False, "reason": "cannot reach sentinel 10.0.0.2:26379: check REDIS_SENTINEL_HOSTS"},
    ]}}
    if lines_too:
        tcp["lines"] = ["✗ 10.0.0.1:26379", "✓ 10.0.0.2:26379: misleading text"]  # display text must not matter
    lookup = {"id": "sentinel-lookup", "title": "master lookup", "details": {
        "sentinels": [{"address": "10.0.0.1:26379", "ok": True, "summary": "master 'mymaster' is 10.0.0.9:6379"}],
        "master": "10.0.0.9:6379", "answers": {"10.0.0.1:26379": "10.0.0.9:6379"}}}
    return {"mode": "sentinel", "steps": [tcp, lookup]}


def test_a_dropped_sentinel_and_its_reason_come_from_the_details() -> None:
    section = topology(_check(), PUBLIC)
    by_address = {sentinel["address"]: sentinel for sentinel in section["sentinels"]}
    assert by_address["10.0.0.1:26379"]["ok"]
    assert not by_address["10.0.0.2:26379"]["ok"]
    assert "REDIS_SENTINEL_HOSTS" in by_address["10.0.0.2:26379"]["detail"]
    assert section["reachable"] == "1/2"
    assert section["master"] == "10.0.0.9:6379"


def test_display_lines_are_ignored() -> None:
    assert topology(_check(lines_too=True), PUBLIC) == topology(_check(), PUBLIC)


def test_standalone_has_no_topology() -> None:
    assert topology({"mode": "standalone", "steps": []}, {"mode": "standalone"})["state"] == "na"
