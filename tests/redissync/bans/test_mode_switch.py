"""The mode switch (bans/mode_switch.py) against real servers: a journal named one mode's way meets Redis in the
other; its live bans are written under the new names with their remaining TTLs, its rows renamed, once."""

from __future__ import annotations

import json

import pytest

from harness.bans import ban_value, bans_state
from redissync.bans.archive import open_journal, save
from redissync.bans.cycle import reconcile
from redissync.bans.entry import classify_row
from redissync.bans.mode_switch import MODE_META, switch_mode
from redissync.clock import now_ms
from redissync.connection import connect
from redissync.keys import BanKey
from redissync.settings import load_settings

pytestmark = pytest.mark.usefixtures("job_cache_mode")  # state directory and BunkerWeb job cache

HOUR_MS = 3_600_000


def journal_with(bans: list[tuple[BanKey, int | None]], cluster: bool, mode: str | None) -> None:
    """A journal holding ``bans`` (ban, ms left or None = permanent) under the given mode's names."""
    stamp = now_ms()
    with open_journal(bans_state()) as journal:
        journal.begin()
        journal.upsert_rows([classify_row(ban.key_in(cluster).encode(), ban_value(ban.ip, ban.service).encode(),
                                          None if left is None else stamp + left, stamp) for ban, left in bans])
        if mode is not None:
            journal.set_meta(MODE_META, mode)
        journal.commit()
        save(bans_state(), journal)  # inside BunkerWeb: what the next run starts from


def switch(server) -> tuple[str, set[bytes], str | None]:
    """One switch in a transaction, committed: the line, the journal's keys after it, its recorded mode."""
    client = connect(load_settings(server.settings_env()))
    try:
        with open_journal(bans_state()) as journal:
            journal.begin()
            line = switch_mode(client, journal)
            journal.commit()
            save(bans_state(), journal)
            return line, {entry.key for entry in journal.entries()}, journal.get_meta(MODE_META)
    finally:
        client.close()


BANS = [(BanKey(f"192.0.2.{i}"), HOUR_MS) for i in range(1, 21)] + [
    (BanKey("2001:db8::7", "shop_{eu}%"), None),  # permanent, a service BunkerWeb escapes in cluster mode
    (BanKey("198.51.100.9"), -60_000),  # expired a minute ago
]


def test_a_cluster_journal_meeting_a_standalone_server_is_rewritten_under_historical_names(plain_redis) -> None:
    journal_with(BANS, cluster=True, mode="cluster")
    admin = plain_redis.client()
    made_meanwhile = BanKey("192.0.2.5").key
    admin.set(made_meanwhile, "banned again since the switch", ex=50)
    line, keys, mode = switch(plain_redis)
    assert line == "mode switch: 20 bans rewritten under standalone names, 1 already there (kept)"
    assert mode == "standalone"
    assert keys == {ban.key.encode() for ban, _ in BANS}, "every row renamed, the expired one too (the pass drops it)"
    assert admin.get(made_meanwhile) == b"banned again since the switch"  # NX: never overwritten
    assert 3_590_000 < admin.pttl(BanKey("192.0.2.1").key) <= HOUR_MS
    assert admin.pttl("bans_service_shop_{eu}%_ip_2001:db8::7") == -1
    assert json.loads(admin.get("bans_service_shop_{eu}%_ip_2001:db8::7"))["ban_scope"] == "service"
    assert not admin.exists(BanKey("198.51.100.9").key), "an expired ban is never written back"
    assert admin.dbsize() == 21


def test_a_pass_in_the_mode_the_journal_recorded_does_nothing(plain_redis) -> None:
    journal_with(BANS[:3], cluster=True, mode="standalone")  # names that would move, but the mode did not change
    line, keys, mode = switch(plain_redis)
    assert (line, mode) == ("", "standalone")
    assert keys == {ban.key_in(True).encode() for ban, _ in BANS[:3]}
    assert plain_redis.client().dbsize() == 0


def test_a_journal_without_a_recorded_mode_moves_only_what_is_named_the_other_way(plain_redis) -> None:
    """A journal of an older version records no mode: its historical names stay, nothing is written; the mode is then
    recorded, so the next pass does not look again."""
    journal_with(BANS[:3], cluster=False, mode=None)
    line, keys, mode = switch(plain_redis)
    assert (line, mode) == ("", "standalone")
    assert keys == {ban.key.encode() for ban, _ in BANS[:3]}
    assert plain_redis.client().dbsize() == 0


def test_a_new_name_already_journaled_keeps_its_row(plain_redis) -> None:
    """Both names journaled (a ban made under the new name before the switch was noticed): one row stays, Redis's."""
    ban = BanKey("203.0.113.8")
    journal_with([(ban, HOUR_MS)], cluster=True, mode="cluster")
    journal_with([(ban, 2 * HOUR_MS)], cluster=False, mode="cluster")
    line, keys, _ = switch(plain_redis)
    assert keys == {ban.key.encode()}
    assert line == "mode switch: 1 bans rewritten under standalone names"
    with open_journal(bans_state(), readonly=True) as journal:
        (entry,) = journal.entries()
    assert entry.expires_ms is not None and entry.expires_ms - now_ms() > HOUR_MS + 60_000, "the new name's own row"


def test_a_standalone_journal_meeting_a_cluster_is_rewritten_slot_by_slot(redis_cluster) -> None:
    journal_with(BANS, cluster=False, mode="standalone")
    line, keys, mode = switch(redis_cluster)
    assert line == "mode switch: 21 bans rewritten under cluster names"
    assert mode == "cluster"
    assert keys == {ban.key_in(True).encode() for ban, _ in BANS}
    client = redis_cluster.client()
    assert 3_590_000 < client.pttl(BanKey("192.0.2.1").key_in(True)) <= HOUR_MS
    assert client.pttl("bans_service_shop_%7Beu%7D%25_ip_{2001:db8::7}") == -1
    holding = [master for master in redis_cluster.masters() if master.client().dbsize()]
    assert len(holding) == 3, "the bans' tags spread them over every master"
    assert sum(master.client().dbsize() for master in holding) == 21
    client.close()


def test_the_first_pass_after_a_switch_rewrites_and_unbans_nothing(plain_redis) -> None:
    """Through the pass (bans/cycle.py's hook): the old names are not missing bans, so no unban and no counter cleared;
    the pass line says what moved, and the next pass sees every ban unchanged."""
    journal_with(BANS, cluster=True, mode="cluster")
    admin = plain_redis.client()
    admin.set("plugin_bad_behavior_192.0.2.1", 3, ex=600)  # an unban would clear it (BunkerWeb #3818)
    client = connect(load_settings(plain_redis.settings_env()))
    try:
        first = reconcile(client, bans_state())
        assert (first.unbans, first.counters_cleared, first.restored, first.new, first.expired) == (0, 0, 0, 0, 1)
        assert first.seen == 21
        assert "; mode switch: 21 bans rewritten under standalone names" in first.line()
        second = reconcile(client, bans_state())
        assert (second.seen, second.new, second.changed, second.unbans, second.restored) == (21, 0, 0, 0, 0)
        assert second.mode_switch == "" and "mode switch" not in second.line()
    finally:
        client.close()
    assert admin.exists("plugin_bad_behavior_192.0.2.1")
    with open_journal(bans_state(), readonly=True) as journal:
        assert {entry.key for entry in journal.entries()} == {ban.key.encode() for ban, left in BANS if left is None or left > 0}
