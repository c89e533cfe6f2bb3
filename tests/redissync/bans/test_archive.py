"""The journal's persisted form in BunkerWeb's job cache (issue 13 §1): base + deltas + manifest.

Every test runs inside the ``Job`` stand-in (harness/bwjob.py): each ``bans_state()`` / job run starts
from the database copy, as inside BunkerWeb."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from harness.bans import bans_state, write_ban
from harness.bwjob import DIE_AT_UPLOAD_ENV, StandInBunkerWeb
from harness.jobproc import spawn_job
from harness.jobrun import run_job_file
from redissync.bans import archive, framing
from redissync.bans.archive import MANIFEST, erase, open_journal
from redissync.bans.cycle import reconcile
from redissync.bans.entry import classify_row
from redissync.bans.journal import JOURNAL_NAME, UNSAVED_META, Journal
from redissync.bans.schema import SCHEMA_VERSION
from tests.conftest import use_bunkerweb_standin
from tests.redissync.bans.old_journals import columns, write_old_journal


@pytest.fixture
def bunkerweb(tmp_path, monkeypatch) -> StandInBunkerWeb:
    """BunkerWeb's job cache (the stand-in's database), where the tests below read the archive."""
    return use_bunkerweb_standin(tmp_path, monkeypatch)


def snapshot() -> tuple[list[tuple], str | None]:
    """Every row as stored and the identity record: what the next pass starts from."""
    with open_journal(bans_state()) as journal:
        return list(journal.archive_rows()), journal.get_meta("identity")


def pass_over(server) -> None:
    client = server.client()
    try:
        reconcile(client, bans_state())
    finally:
        client.close()


def archive_files(bunkerweb: StandInBunkerWeb) -> dict[str, bytes]:
    return {name: data for name, data in bunkerweb.cached().items() if name.startswith("bans-") and name != "bans-summary.json"}


def test_replaced_scheduler_rebuilds_the_exact_journal(plain_redis, bunkerweb) -> None:
    admin = plain_redis.client()
    for i in range(300):
        write_ban(admin, f"10.0.{i // 250}.{i % 250}", service="app.example.com" if i % 7 == 0 else None,
                  ttl=None if i % 50 == 0 else 3600 + i)
    admin.set("bans_ip_192.0.2.1", b"\xff\xfebinary", ex=600)  # kept byte for byte
    pass_over(plain_redis)
    admin.delete("bans_ip_10.0.0.3")  # an unban, then a pass: a delta
    write_ban(admin, "10.9.9.9", ttl=120)
    pass_over(plain_redis)
    before = snapshot()
    assert len(before[0]) == 301
    assert before[1]
    assert set(archive_files(bunkerweb)) >= {MANIFEST}
    assert len(json.loads(bunkerweb.cached()[MANIFEST])["deltas"]) == 1

    bunkerweb.replace_scheduler()  # the local cache folder and the working copy are gone
    assert snapshot() == before
    admin.flushall()
    pass_over(plain_redis)
    assert admin.get("bans_ip_192.0.2.1") == b"\xff\xfebinary"
    assert not admin.exists("bans_ip_10.0.0.3")
    assert admin.exists("bans_ip_10.9.9.9")
    assert admin.pttl("bans_ip_10.0.0.50") == -1


@pytest.mark.parametrize("cut", ["bans-delta", "bans-delta:half", "bans-manifest"])
def test_crash_mid_upload_is_ignored_and_nothing_is_lost(plain_redis, bunkerweb, cut: str) -> None:
    admin = plain_redis.client()
    env = plain_redis.settings_env()
    first = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(40)]
    assert run_job_file("redissync-bans", env) == 0
    saved = snapshot()
    later = [write_ban(admin, f"198.51.100.{i}", ttl=3600) for i in range(10)]
    job = spawn_job("redissync-bans", {**env, DIE_AT_UPLOAD_ENV: cut})
    job.communicate(timeout=60)
    assert job.returncode < 0, "the pass was to be killed during its upload"
    assert snapshot() == saved  # the torn or unlisted upload is not part of the journal

    admin.flushall()
    assert run_job_file("redissync-bans", env) == 0  # restores what was saved; the rest comes from Redis next
    assert all(admin.exists(key) for key in first)
    for key in later:
        write_ban(admin, key.removeprefix("bans_ip_"), ttl=3600)
    assert run_job_file("redissync-bans", env) == 0
    rows, _ = snapshot()
    assert {row[0].decode() for row in rows} == set(first) | set(later)
    manifest = json.loads(bunkerweb.cached()[MANIFEST])
    listed = {name for name, _, _ in manifest["base"]} | {name for delta in manifest["deltas"] for name, _, _ in delta}
    assert set(archive_files(bunkerweb)) == listed | {MANIFEST}  # the stray upload was deleted


@pytest.mark.parametrize("twice", [False, True], ids=["distinct-keys", "a-key-loaded-twice"])
def test_the_base_a_bulk_load_compresses_rebuilds_the_journal(bunkerweb, twice: bool) -> None:
    """A first pass compresses the base from its rows as it loads them; what the same transaction writes or deletes
    after the load is a delta on top. A key loaded twice is in the base twice, its last row last: the rebuild keeps
    that one, as the journal did."""
    def row(i: int, reason: str = "r") -> tuple:
        return classify_row(f"bans_ip_10.0.0.{i}".encode(), json.dumps({"reason": reason}).encode(), None if i % 9 else 5_000_000, 1)

    state = bans_state()
    with open_journal(state) as journal:
        journal.begin()
        with journal.bulk_load(archive.LoadedBase()):
            journal.upsert_rows([row(i) for i in range(60)])
            journal.upsert_rows([row(i) for i in range(60, 90)] + ([row(5, "again")] if twice else []))
        journal.upsert_rows([row(200), row(3, "rebanned")])
        journal.delete([b"bans_ip_10.0.0.7"])
        journal.commit()
        archive.save(state, journal)
    manifest = json.loads(bunkerweb.cached()[MANIFEST])
    assert manifest["bans"] == 90 and len(manifest["deltas"]) == 1
    before = snapshot()
    assert {row[0]: row[1] for row in before[0]}[b"bans_ip_10.0.0.5"] == (b'{"reason": "again"}' if twice else b'{"reason": "r"}')
    bunkerweb.replace_scheduler()
    assert sorted(snapshot()[0]) == sorted(before[0])


def test_large_journal_is_split_and_steady_passes_write_deltas(plain_redis, bunkerweb, monkeypatch) -> None:
    monkeypatch.setattr(framing, "PART_BYTES", 64 * 1024)
    monkeypatch.setattr(framing, "FRAME_ROWS", 500)
    admin = plain_redis.client()
    pipe = admin.pipeline(transaction=False)
    for i in range(3000):  # incompressible values: the base cannot fit one 64 KiB file
        value = {"reason": "bad behavior", "reason_data": {"x": os.urandom(48).hex()}}
        pipe.set(f"bans_ip_10.1.{i // 256}.{i % 256}", json.dumps(value), ex=3600)
    pipe.execute()
    pass_over(plain_redis)
    files = archive_files(bunkerweb)
    assert len([name for name in files if name.startswith("bans-base-")]) > 2
    assert max(len(data) for data in files.values()) <= 64 * 1024
    written = bunkerweb.bytes_written()
    write_ban(admin, "203.0.113.1", ttl=600)
    pass_over(plain_redis)
    manifest = json.loads(bunkerweb.cached()[MANIFEST])
    assert len(manifest["deltas"]) == 1
    assert manifest["bans"] == 3001
    assert bunkerweb.bytes_written() - written < 16 * 1024  # a delta, the manifest and the UI summary (20 recent bans)
    expected = snapshot()
    bunkerweb.replace_scheduler()
    assert snapshot() == expected


def test_deltas_that_outgrow_the_base_trigger_a_new_base(plain_redis, bunkerweb, monkeypatch) -> None:
    monkeypatch.setattr(archive, "REBASE_MIN_BYTES", 0)
    admin = plain_redis.client()
    for i in range(100):
        write_ban(admin, f"192.0.2.{i}", ttl=3600)
    pass_over(plain_redis)
    epoch = json.loads(bunkerweb.cached()[MANIFEST])["epoch"]
    for i in range(60):  # changes worth more than a quarter of the base (re-bans: a fresh expiry each)
        write_ban(admin, f"192.0.2.{i}", reason="changed", ttl=7200)
    pass_over(plain_redis)
    manifest = json.loads(bunkerweb.cached()[MANIFEST])
    assert manifest["epoch"] != epoch
    assert manifest["deltas"] == []
    assert not any(epoch in name for name in archive_files(bunkerweb))  # the old base is deleted
    assert sum(1 for row in snapshot()[0] if b"changed" in row[1]) == 60


def test_erase_leaves_a_first_pass(plain_redis, bunkerweb) -> None:
    admin = plain_redis.client()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(5)]
    pass_over(plain_redis)
    erase(bans_state())
    assert archive_files(bunkerweb) == {}
    assert snapshot() == ([], None)
    admin.flushall()
    client = plain_redis.client()
    result = reconcile(client, bans_state())
    assert result.restored == 0
    assert "first pass" in result.verdict
    assert not admin.exists(*keys)


def test_damaged_listed_file_fails_the_job_instead_of_loading(plain_redis, bunkerweb, captured_logs) -> None:
    admin = plain_redis.client()
    env = plain_redis.settings_env()
    write_ban(admin, "192.0.2.1", ttl=3600)
    assert run_job_file("redissync-bans", env) == 0
    name = next(name for name in archive_files(bunkerweb) if name.startswith("bans-base-"))
    with sqlite3.connect(bunkerweb.db.path) as db:
        db.execute("UPDATE bw_jobs_cache SET data = substr(data, 1, 10) WHERE file_name = ?", (name,))
    bunkerweb.replace_scheduler()
    assert run_job_file("redissync-bans", env) == 2
    errors = [r.getMessage() for r in captured_logs.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert name in errors[0]
    assert "damaged" in errors[0]


def test_single_file_journal_of_older_versions_is_migrated(plain_redis, bunkerweb, tmp_path) -> None:
    admin = plain_redis.client()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(8)]
    pass_over(plain_redis)
    expected = snapshot()
    with Journal(tmp_path / "old.sqlite3") as old:  # what an older version cached: the whole SQLite file
        old.begin()
        old.upsert_rows([classify_row(*row) for row in open_journal(bans_state())._db.execute(
            "SELECT key, value, expires_ms, seen_ms FROM bans")])
        old.set_meta("identity", expected[1])
        old.commit()
        old.checkpoint()
    erase(bans_state())
    bans_state()._job.cache_file(JOURNAL_NAME, (tmp_path / "old.sqlite3").read_bytes())
    admin.flushall()
    pass_over(plain_redis)  # judged from the migrated identity: data loss, every ban restored
    assert all(admin.exists(key) for key in keys)
    assert JOURNAL_NAME not in bunkerweb.cached()
    assert MANIFEST in bunkerweb.cached()
    assert snapshot()[0] == expected[0]


def test_a_state_directory_journal_of_older_versions_is_migrated(plain_redis) -> None:
    """Outside BunkerWeb older versions kept the SQLite file itself as the state, its last commit possibly still
    in its WAL (a killed pass): the first pass archives it as inside BunkerWeb, then removes the old files."""
    admin = plain_redis.client()
    keys = [write_ban(admin, f"192.0.2.{i}", ttl=3600) for i in range(8)]
    pass_over(plain_redis)
    expected = snapshot()
    state = bans_state()
    erase(state)
    legacy = state.directory / JOURNAL_NAME
    with Journal(legacy) as old:
        old.begin()
        old.upsert_rows([classify_row(*row) for row in expected[0]])
        old.set_meta("identity", expected[1])
        old.commit()
        files = {path.name: path.read_bytes() for path in state.directory.glob(f"{JOURNAL_NAME}*")}
    for name, data in files.items():  # as the killed pass left them: the commit in the WAL
        (state.directory / name).write_bytes(data)
    assert (state.directory / f"{JOURNAL_NAME}-wal").stat().st_size > 0
    admin.flushall()
    pass_over(plain_redis)  # judged from the migrated identity: data loss, every ban restored
    assert all(admin.exists(key) for key in keys)
    assert not list(state.directory.glob(f"{JOURNAL_NAME}*"))
    assert (state.directory / MANIFEST).is_file()
    assert snapshot()[0] == expected[0]


def test_an_older_versions_file_is_read_from_a_copy_and_left_as_that_version_wrote_it() -> None:
    """1.0.0 kept a version 1 SQLite file as the state: the first run migrates a copy of it (the working copy) and
    leaves the file itself as 1.0.0 wrote it until the first save deletes it, so that going back to 1.0.0 before
    then still works (1.0.0 cannot open a version 3 file)."""
    state = bans_state()
    state.directory.mkdir(parents=True, exist_ok=True)
    legacy = state.directory / JOURNAL_NAME
    write_old_journal(legacy, "1", [classify_row(f"bans_ip_192.0.2.{i}".encode(), b'{"reason":"x"}', None, 1) for i in range(3)])
    with open_journal(state) as journal:
        assert journal.count() == 3 and journal.get_meta("identity") == "kept"
        assert journal.get_meta(UNSAVED_META) == "1", "the first save archives it and deletes the old file"
    assert "service" in columns(legacy) and legacy.is_file()


def test_a_working_copy_of_a_later_version_is_rebuilt_from_the_archive(plain_redis) -> None:
    """Going back from a later redissync whose working copy has a newer schema: this version cannot know that file's
    form, so it rebuilds its own from the archive (the form every version reads) instead of stamping it as its own."""
    for i in range(5):
        write_ban(plain_redis.client(), f"192.0.2.{i}", ttl=3600)
    pass_over(plain_redis)
    expected = snapshot()
    working = bans_state().work_directory / JOURNAL_NAME
    with sqlite3.connect(working) as later:  # what a later version left: its own version and tables
        later.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")
        later.execute("CREATE TABLE later_only (x)")
    assert snapshot() == expected
    with sqlite3.connect(working) as db:
        assert db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'later_only'").fetchone() is None


def test_a_listing_before_any_pass_creates_no_file() -> None:
    state = bans_state()
    with open_journal(state, readonly=True) as journal:
        assert journal.count() == 0
    assert not (state.work_directory / JOURNAL_NAME).exists()
    assert state.names("bans-") == []
