"""The index's base on disk plus the journal's recorded changes always equal the index rebuilt from the journal;
anything that does not match (a crash between the two, a damaged file) falls back to the journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bans import bans_state, write_ban
from redissync.bans import index
from redissync.bans.entry import classify_row
from redissync.bans.journal import INDEX_NAME, INDEX_TOKEN_META, Journal


def rows(keys: range, reason: str = "x", expires_ms: int | None = 10_000_000) -> list[tuple]:
    return [classify_row(f"bans_ip_10.0.0.{i}".encode(), json.dumps({"reason": reason}).encode(), expires_ms, 1) for i in keys]


def truth(journal: Journal) -> dict[int, int]:
    return {index.slot(key): packed for key, packed in journal.index_rows()}


def loaded(journal: Journal) -> tuple[dict[int, int], bool]:
    table, based = index.load(journal)
    return dict(table.items()), based


@pytest.fixture(autouse=True, params=["dict", "arrays"])
def representation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here holds for both of the index's forms: a dict, and from ARRAYS_FROM bans SlotArrays."""
    if request.param == "arrays":
        monkeypatch.setattr(index, "ARRAYS_FROM", 0)
    return str(request.param)


def write(journal: Journal, upserts: list[tuple], deletes: list[bytes] = ()) -> None:
    journal.begin()
    journal.upsert_rows(upserts)
    journal.delete(deletes)
    journal.commit()


def test_base_plus_changes_equal_the_journal(tmp_path: Path) -> None:
    with Journal.in_directory(tmp_path) as journal:
        write(journal, rows(range(200)))
        assert loaded(journal) == (truth(journal), False)  # no base yet: rebuilt
        index.write_base(journal)
        write(journal, rows(range(190, 220), reason="y", expires_ms=None), [b"bans_ip_10.0.0.3", b"bans_ip_10.0.0.4"])
        entries, based = loaded(journal)
        assert based and entries == truth(journal)
        assert journal.index_change_count() == 32
        assert not index.save_if_due(journal, based)  # 32 changes: far below the rewrite threshold
    with Journal.in_directory(tmp_path) as journal:  # a new process: tracking resumes from the recorded token
        assert loaded(journal) == (truth(journal), True)
        write(journal, rows(range(300, 305)))
        assert loaded(journal) == (truth(journal), True)


def test_changes_that_outgrow_the_base_rewrite_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "REWRITE_MIN", 10)
    with Journal.in_directory(tmp_path) as journal:
        write(journal, rows(range(50)))
        index.write_base(journal)
        token = journal.get_meta(INDEX_TOKEN_META)
        write(journal, rows(range(50, 61)))
        assert index.save_if_due(journal, True)
        assert journal.get_meta(INDEX_TOKEN_META) != token
        assert journal.index_change_count() == 0
        assert loaded(journal) == (truth(journal), True)


@pytest.mark.parametrize("damage", ["token-not-committed", "truncated", "missing", "a-key-twice"])
def test_a_base_that_does_not_match_is_not_used(tmp_path: Path, damage: str) -> None:
    with Journal.in_directory(tmp_path) as journal:
        write(journal, rows(range(100)))
        index.write_base(journal)
        path = tmp_path / INDEX_NAME
        if damage == "token-not-committed":  # a crash after the file's rename, before its token's commit
            journal.begin()
            journal.put_meta(INDEX_TOKEN_META, "0" * 32)
            journal.commit()
        elif damage == "truncated":
            path.write_bytes(path.read_bytes()[:-10])
        elif damage == "a-key-twice":  # whole and of the right token, but not what the journal wrote
            written = list(journal.index_rows())
            with index._BaseFile(path, journal.get_meta(INDEX_TOKEN_META)) as base:
                base.write(*(list(column) for column in zip(*written, written[0], strict=True)))
        else:
            path.unlink()
        write(journal, rows(range(100, 101)))
        assert loaded(journal) == (truth(journal), False)
        assert index.save_if_due(journal, False)
        assert loaded(journal) == (truth(journal), True)


def test_the_pass_keeps_the_base_current(plain_redis, job_cache_mode) -> None:
    """Over passes that add, re-ban and unban, the index a pass loads is the journal's; the base is the working
    copy's own and is not archived (inside BunkerWeb a rebuilt working copy builds its own)."""
    from redissync.bans.archive import open_journal
    from redissync.bans.cycle import reconcile

    admin = plain_redis.client()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(30)]
    for step in range(3):
        reconcile(plain_redis.client(), bans_state())
        with open_journal(bans_state()) as journal:
            entries, based = loaded(journal)
            assert based and entries == truth(journal), step
        write_ban(admin, f"198.51.100.{step}", ttl=600)
        write_ban(admin, f"192.0.2.{step}", reason="again", ttl=7200)
        admin.delete(keys[10 + step])
    if job_cache_mode is not None:
        manifest = json.loads(job_cache_mode.cached()["bans-manifest.json"])
        assert not {INDEX_TOKEN_META, "index_size", "verify_slice"} & set(manifest["meta"])
        job_cache_mode.replace_scheduler()
        with open_journal(bans_state()) as journal:
            assert loaded(journal) == (truth(journal), False)


def test_slot_arrays_probe_past_collisions_mark_what_they_hand_out_and_grow_past_what_was_announced() -> None:
    """Slots that share their low bits land on one probe chain (a 1,024-position table masks all but 10 bits): each is
    found, handed out once, and what is left is exactly what was not; a table told too few entries doubles."""
    table = index.SlotArrays(3)
    chain = [1 + 1024 * n for n in range(6)]  # one home position, six entries: past the 3 announced
    for n, slot in enumerate(chain):
        table[slot] = (n + 1) << 32
    table[chain[2]] = 99 << 32  # an entry replaced in place
    assert dict(table.items()) == {slot: ((99 if n == 2 else n + 1) << 32) for n, slot in enumerate(chain)}
    assert table.pop(chain[3]) == 4 << 32
    assert table.pop(chain[3]) is None  # handed out once, like a dict's pop
    assert table.pop(5 + 1024) is None  # never put
    table.pop(chain[0])  # dropped from the journal since the base: not missing
    assert list(table.values()) == [2 << 32, 5 << 32, 6 << 32, 99 << 32]  # in the journal's order (row ids)
    many = index.SlotArrays(10)
    for n in range(5_000):  # 500 × what was announced: grows, keeping every entry
        many[index.slot(f"bans_ip_10.1.{n // 256}.{n % 256}".encode())] = (n + 1) << 32
    assert list(many.values()) == [(n + 1) << 32 for n in range(5_000)]
    assert len(many.slots) <= 4 * 8192
    many.clear()
    assert not list(many.values())


def test_a_bulk_load_records_no_changes_and_voids_the_base_it_empties(tmp_path: Path) -> None:
    """A first pass writes every row (bans/journal.py bulk_load): recording each key for a base would cost more than
    writing a new base (the pass does), and a base kept from before the journal emptied describes other rows."""
    with Journal.in_directory(tmp_path) as journal:
        write(journal, rows(range(50)))
        index.write_base(journal)
        write(journal, [], [f"bans_ip_10.0.0.{i}".encode() for i in range(50)])  # every ban gone: an empty journal, a base
        journal.begin()
        journal.tracks_index = True  # as a mode switch leaves it (bans/mode_switch.py)
        with journal.bulk_load():
            journal.upsert_rows(rows(range(100, 160)))
        assert journal.index_change_count() == 0
        journal.commit()
        assert journal.get_meta(INDEX_TOKEN_META) is None
        assert loaded(journal) == (truth(journal), False)  # rebuilt from the journal, never the emptied journal's base


@pytest.mark.parametrize("twice", [False, True], ids=["distinct-keys", "a-key-loaded-twice"])
def test_the_base_a_bulk_load_writes_is_the_journals_with_the_writes_after_it(tmp_path: Path, twice: bool) -> None:
    """A first pass writes the base from its rows as it loads them (ids 1, 2, … in order), and the same transaction
    writes more after the load (the instances' bans): installed, the base plus those changes is the journal. A key
    loaded twice voids it (the journal kept one row): the base is then written from the journal."""
    with Journal.in_directory(tmp_path) as journal:
        journal.begin()
        loading = index.LoadedBase(journal)
        with journal.bulk_load(loading):
            journal.upsert_rows(rows(range(0, 40), expires_ms=None))
            journal.upsert_rows(rows(range(40, 90)) + (rows(range(5, 6), reason="again") if twice else []))
        journal.upsert_rows(rows(range(200, 203)))
        journal.delete([b"bans_ip_10.0.0.7"])
        journal.commit()
        assert index.save_if_due(journal, False)
        assert loading.whole is not twice
        assert not loading.temporary.exists()
        assert loaded(journal) == (truth(journal), True)
