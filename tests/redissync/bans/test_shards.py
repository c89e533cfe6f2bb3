"""A Redis Cluster's shards judged one by one (bans/shards.py): the rules on recorded states, no server needed; the same
rules against a real cluster are tests/redissync/bans/test_cycle_cluster*.py."""

from __future__ import annotations

from dataclasses import replace

from redissync.bans.identity import ServerIdentity
from redissync.bans.shards import ALL_SLOTS, ClusterState, Shard, choose_tag, marker_key, own_slots, record
from redissync.keyspace import slot_of

THIRDS = ((0, 5460),), ((5461, 10922),), ((10923, 16383),)


def identity(replid: str, marker: str | None = "token", offset: int = 100, **changes) -> ServerIdentity:
    return replace(ServerIdentity(run_id="run-" + replid, replid=replid, replid2="0" * 40, offset=offset, second_offset=-1,
                                  evicted=0, marker=marker), **changes)


def cluster(*identities: ServerIdentity, ranges=THIRDS) -> ClusterState:
    return ClusterState(tuple(Shard(slots, choose_tag(slots), ident) for slots, ident in zip(ranges, identities, strict=True)))


def test_a_node_reads_its_own_slots_and_its_open_migrations_from_cluster_nodes() -> None:
    text = ("a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 6000 [5461-<-b2]\n"
            "b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922 [5461->-a1]\n")
    assert own_slots(text) == (((0, 5460), (6000, 6000)), True)
    assert own_slots(text.replace(" [5461-<-b2]", "")) == (((0, 5460), (6000, 6000)), False)


def test_each_marker_lands_in_its_shard_and_tags_differ() -> None:
    tags = [choose_tag(ranges) for ranges in THIRDS]
    assert len(set(tags)) == 3
    for ranges, tag in zip(THIRDS, tags, strict=True):
        assert ranges[0][0] <= slot_of(marker_key(tag).encode()) <= ranges[0][1]
    assert choose_tag(THIRDS[0], taken=[tags[0]]) != tags[0]


def test_only_the_flushed_shard_is_lost_and_its_keys_alone_are_restored() -> None:
    before = cluster(identity("a"), identity("b"), identity("c"))
    after = cluster(identity("a", offset=200), identity("b", marker=None, offset=300), identity("c", offset=150))
    verdict = after.judge(before)
    assert verdict.lost and not verdict.all_lost
    marker = marker_key(choose_tag(THIRDS[1]))
    assert verdict.reason == f"shard 5461-10922: {marker} is missing: Redis was flushed or restarted without persistence"
    keys = [f"bans_ip_{{192.0.2.{n}}}".encode() for n in range(250)]
    for (first, last), in THIRDS:
        in_third = [key for key in keys if first <= slot_of(key) <= last]
        assert in_third and all(verdict.lost_for(key) == (first == 5461) for key in in_third)


def test_a_promoted_replica_carries_its_shard_on_and_a_stranger_does_not() -> None:
    before = cluster(identity("a"), identity("b"), identity("c"))
    promoted = identity("b2", replid2="b", second_offset=101, run_id="run-replica")
    stranger = identity("c2", run_id="run-restarted")
    verdict = cluster(identity("a"), promoted, stranger).judge(before)
    (_, first), (_, second), (_, third) = verdict.shards
    assert not first.lost and not second.lost and second.reason == "promoted replica that had every write of the last pass"
    assert third.lost and "no shard of the last pass carries on" in third.reason


def test_the_first_pass_is_one_sentence_and_a_quiet_cluster_says_so() -> None:
    state = cluster(identity("a"), identity("b"), identity("c"))
    assert state.judge(None).reason == "every shard (3): first pass (nothing recorded yet)"
    assert state.judge(None).all_lost
    assert state.judge(state).reason == "every shard (3) kept its data"


def test_a_marker_whose_slot_moved_away_cannot_vouch_for_its_shard() -> None:
    before = cluster(identity("a"), identity("b"), identity("c"))
    moved = ClusterState((replace(before.shards[0], tag="elsewhere"), *before.shards[1:]))
    (_, first), *_ = moved.judge(before).shards
    assert first.lost and "marker's slot moved" in first.reason


def test_recorded_states_round_trip_and_nothing_is_recorded_after_slots_moved() -> None:
    state = cluster(identity("a"), identity("b"), identity("c"))
    assert ClusterState.from_json(state.to_json()) == state
    assert ClusterState.from_json("{not json") is None
    assert record(state, state) is not None
    resharded = cluster(identity("a"), identity("b"), identity("c"), ranges=(((0, 5000),), ((5001, 10922),), ((10923, 16383),)))
    assert record(state, resharded) is None
    assert not state.same_history(replace(state, moving=True))
    assert sum(last - first + 1 for ranges in THIRDS for first, last in ranges) == ALL_SLOTS
