"""Loss or unban: the verdict from the recorded server identity (pure), and from real servers."""

from __future__ import annotations

from dataclasses import replace

from redissync.bans.identity import ServerIdentity, ensure_marker, judge
from redissync.connection import connect
from redissync.keys import GENERATION_KEY
from redissync.settings import load_settings

BASE = ServerIdentity(run_id="r1", replid="A", replid2="0" * 40, offset=1000, second_offset=-1, evicted=0, marker="m1")


def test_same_server_and_history_means_deliberate_delete() -> None:
    assert not judge(BASE, replace(BASE, offset=1500)).lost


def test_first_pass_missing_or_changed_marker_means_loss() -> None:
    assert judge(None, BASE).lost
    assert judge(BASE, replace(BASE, marker=None)).lost
    assert judge(BASE, replace(BASE, marker="m2")).lost


def test_restart_even_with_the_marker_restored_from_disk_means_loss() -> None:
    assert judge(BASE, replace(BASE, run_id="r2")).lost
    assert judge(BASE, replace(BASE, run_id="r2", offset=5000)).lost  # RDB reload of the same replid


def test_offset_going_back_means_loss() -> None:
    assert judge(BASE, replace(BASE, offset=900)).lost


def test_promoted_replica_that_had_every_write_is_continuous() -> None:
    promoted = replace(BASE, run_id="r2", replid="B", replid2="A", second_offset=1001, offset=1001)
    assert not judge(BASE, promoted).lost


def test_promoted_replica_that_lagged_means_loss() -> None:
    promoted = replace(BASE, run_id="r2", replid="B", replid2="A", second_offset=700, offset=700)
    verdict = judge(BASE, promoted)
    assert verdict.lost
    assert "missed 301 bytes" in verdict.reason


def test_evictions_mean_possible_loss() -> None:
    verdict = judge(replace(BASE, evicted=3), replace(BASE, evicted=10))
    assert verdict.lost
    assert "noeviction" in verdict.reason


def test_identity_round_trip_and_corrupt_record() -> None:
    assert ServerIdentity.from_json(BASE.to_json()) == BASE
    assert ServerIdentity.from_json("{broken") is None
    assert ServerIdentity.from_json(None) is None


def test_real_server_identity_and_marker(plain_redis) -> None:
    client = connect(load_settings(plain_redis.settings_env()))
    first = ServerIdentity.read(client)
    assert first.run_id
    assert first.marker is None
    ensure_marker(client)
    ensure_marker(client)
    second = ServerIdentity.read(client)
    assert second.marker == plain_redis.client().get(GENERATION_KEY).decode()
    assert not judge(second, ServerIdentity.read(client)).lost
    plain_redis.restart()
    assert judge(second, ServerIdentity.read(client)).lost
