"""Sessions against a real Redis: counts per cookie and lifetime, TTL hygiene, revoke."""

from __future__ import annotations

import pytest

from redissync.sessions import BUCKET_NAMES, bucket, revoke_sessions, session_stats

ABSOLUTE = 5000


@pytest.fixture
def sessions(plain_redis):
    """alpha: 10 with TTLs in known buckets + 3 without TTL; beta: 4; 'alphabet' (a prefix trap): 2;
    web UI: 3 (+1 without TTL); malformed: a hash under alpha, a key with no id."""
    client = plain_redis.client()
    pipe = client.pipeline(transaction=False)
    ttls = [60, 200, 600, 1000, 2000, 3000, 7200, 30000, 86400, 200000]
    for i, ttl in enumerate(ttls):
        pipe.set(f"sessions_:alpha:{i:032x}", "payload", ex=ttl)
    for i in range(3):
        pipe.set(f"sessions_:alpha:persistent{i}", "payload")
    for i in range(4):
        pipe.set(f"sessions_:beta:{i}", "payload", ex=1800)
    for i in range(2):
        pipe.set(f"sessions_:alphabet:{i}", "payload", ex=1800)
    for i in range(3):
        pipe.set(f"bunkerweb_ui_session:{i}", "ui", ex=3600)
    pipe.set("bunkerweb_ui_session:forever", "ui")
    pipe.hset("sessions_:alpha:ahash", mapping={"a": "1"})
    pipe.set("sessions_:noident", "x")
    pipe.set("bans_ip_1.2.3.4", "{}")
    pipe.execute()
    return client


def test_buckets() -> None:
    assert [bucket(t) for t in (-1, 0, 300, 301, 1800, 3600, 21600, 86400, 86401)] == [
        "no_ttl", "<5m", "<5m", "5-30m", "5-30m", "30m-1h", "1-6h", "6-24h", ">24h"]


def test_stats_are_read_only_and_exact(sessions) -> None:
    summary = session_stats(sessions, env={"SESSIONS_ABSOLUTE_TIMEOUT": str(ABSOLUTE)})
    alpha = summary["cookies"]["alpha"]
    assert alpha["live"] == 13
    assert alpha["buckets"] == {
        "<5m": 2, "5-30m": 2, "30m-1h": 2, "1-6h": 1, "6-24h": 2, ">24h": 1, "no_ttl": 3}
    assert summary["cookies"]["beta"]["live"] == 4
    assert summary["cookies"]["alphabet"]["live"] == 2
    assert summary["live"] == 19
    assert sum(summary["buckets"].values()) == 19
    assert summary["ui"] == {"live": 4, "buckets": {**dict.fromkeys(BUCKET_NAMES, 0), "30m-1h": 3, "no_ttl": 1}}
    assert summary["malformed"] == {"unparsed_key": 1, "wrong_type": 1, "vanished": 0}
    assert summary["no_ttl_found"] == 3
    assert summary["bounded_now"] == 0
    assert sessions.ttl("sessions_:alpha:persistent0") == -1


def test_fix_bounds_only_bunkerweb_sessions_without_ttl(sessions) -> None:
    before = {key: sessions.ttl(key) for key in sessions.scan_iter()}
    summary = session_stats(sessions, env={"SESSIONS_ABSOLUTE_TIMEOUT": str(ABSOLUTE)}, fix=True)
    assert summary["bounded_now"] == 3
    assert summary["cookies"]["alpha"]["buckets"]["no_ttl"] == 0
    assert summary["cookies"]["alpha"]["buckets"]["1-6h"] == 1 + 3
    for key, ttl in before.items():
        now = sessions.ttl(key)
        if key.startswith(b"sessions_:alpha:persistent"):
            assert ABSOLUTE - 5 < now <= ABSOLUTE
        elif ttl == -1:
            assert now == -1, key  # the UI's session, the malformed keys and the ban are untouched
        else:
            assert abs(now - ttl) <= 2, key


def test_zero_absolute_timeout_leaves_keys_alone(sessions) -> None:
    summary = session_stats(sessions, env={"SESSIONS_ABSOLUTE_TIMEOUT": "0"}, fix=True)
    assert summary["bounded_now"] == 0
    assert summary["no_ttl_found"] == 3
    assert sessions.ttl("sessions_:alpha:persistent0") == -1
    assert "left as they are" in summary["summary"]


def test_revoke_dry_run_changes_nothing(sessions) -> None:
    keys = sorted(sessions.scan_iter())
    result = revoke_sessions(sessions, None, apply=False)
    assert result.matched == 10 + 3 + 1 + 4 + 2
    assert result.deleted == 0  # the hash under alpha is alpha's too
    assert sorted(sessions.scan_iter()) == keys


def test_revoke_one_cookie_in_small_batches(sessions) -> None:
    batches = []
    result = revoke_sessions(sessions, "alpha", apply=True, batch_size=3, progress=lambda r: batches.append(r.matched))
    assert result.deleted == result.matched == 14
    assert len(batches) >= 5
    assert not list(sessions.scan_iter("sessions_:alpha:*"))
    assert len(list(sessions.scan_iter("sessions_:beta:*"))) == 4
    assert len(list(sessions.scan_iter("sessions_:alphabet:*"))) == 2
    assert len(list(sessions.scan_iter("bunkerweb_ui_session:*"))) == 4
    assert sessions.exists("sessions_:noident", "bans_ip_1.2.3.4") == 2


def test_revoke_every_cookie(sessions) -> None:
    result = revoke_sessions(sessions, None, apply=True)
    assert result.deleted == 20
    assert dict(result.per_cookie) == {"alpha": 14, "beta": 4, "alphabet": 2}
    assert sorted(sessions.scan_iter("sessions_:*")) == [b"sessions_:noident"]
