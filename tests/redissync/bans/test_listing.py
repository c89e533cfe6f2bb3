"""Every ``GET /bans`` shape BunkerWeb has shipped or is shipping, row by row (redissync.bans.listing).

Rows as ``api.lua`` builds them: 1.6.0–1.6.15 (``{ip, reason, service, date, country, ban_scope, exp,
permanent}``), 1.6.16~rc4 (``banlease.ban_row``: ``kind`` and ``reason_data``), 1.7 (branch 1.7 commit e2d20692:
``expires_at``, top-level ``generation_epoch`` and ``snapshot_time``; later ``total`` and paging)."""

from __future__ import annotations

import time

import pytest

from redissync.bans.listing import InstanceAnswer, expired_row, parse_answer, parse_ban

NOW = int(time.time())
ROW_16 = {"ip": "192.0.2.1", "reason": "bad behavior", "service": "unknown", "date": 1764400000, "country": "FR",
          "ban_scope": "global", "exp": 3600, "permanent": False}
ROW_1616 = {**ROW_16, "kind": "ban", "reason_data": {"score": 12}}
LEASE_DATA = {"version": 1, "source": "lapi", "lease": True, "remediation": "ban", "decisions": [{"id": 7}]}
LEASE_ROW = {**ROW_16, "ip": "192.0.2.9", "reason": "crowdsec", "exp": 55, "kind": "crowdsec_lease", "reason_data": LEASE_DATA}
ROW_17 = {**ROW_16, "expires_at": NOW + 3600, "reason_data": {}}


def success(data, **top) -> dict:
    return {"status": "success", "msg": "success", "data": data, **top}


def test_16_rows_and_the_empty_answer() -> None:
    answer = parse_answer("a", success([ROW_16]))
    assert [(ban.key, ban.exp) for ban in answer.bans] == [("bans_ip_192.0.2.1", 3600)]
    empty = parse_answer("a", {"status": "success", "msg": ""})
    assert (empty.error, empty.bans, empty.rows) == (None, [], 0)


def test_1616_rows_carry_kind_and_reason_data() -> None:
    answer = parse_answer("a", success([ROW_1616]))
    [ban] = answer.bans
    assert (ban.key, ban.reason_data, answer.leases, answer.other_kinds) == ("bans_ip_192.0.2.1", {"score": 12}, 0, 0)


def test_1616_lease_rows_are_counted_never_listed() -> None:
    answer = parse_answer("a", success([LEASE_ROW, {**LEASE_ROW, "ban_scope": "service", "service": "shop"}]))
    assert (answer.listed, answer.leases, answer.malformed) == ({}, 2, 0)


def test_a_lease_row_never_replaces_the_ban_row_of_the_same_ip() -> None:
    ban = {**ROW_1616, "ip": LEASE_ROW["ip"], "exp": 7200}
    for rows in ([ban, LEASE_ROW], [LEASE_ROW, ban]):
        answer = parse_answer("a", success(rows))
        assert [(b.key, b.exp, b.reason) for b in answer.bans] == [("bans_ip_192.0.2.9", 7200, "bad behavior")]
        assert answer.leases == 1


def test_a_row_whose_reason_data_says_lease_is_a_lease_even_without_kind() -> None:
    row = {k: v for k, v in LEASE_ROW.items() if k != "kind"}
    assert parse_answer("a", success([row])).leases == 1
    assert parse_answer("a", success([{**row, "kind": "ban"}])).leases == 1  # contradictory: never propagated


@pytest.mark.parametrize("kind", ["quarantine", "", None, 3, "BAN", "crowdsec"])
def test_unknown_kinds_are_skipped_and_counted(kind) -> None:
    answer = parse_answer("a", success([{**ROW_1616, "kind": kind}, {**ROW_1616, "ip": "192.0.2.2"}]))
    assert ([b.key for b in answer.bans], answer.other_kinds) == (["bans_ip_192.0.2.2"], 1)


def test_17_expires_at_wins_over_a_stale_exp() -> None:
    stale = {**ROW_17, "exp": 3600, "expires_at": NOW + 100}  # exp aged in transit: 100 s are left, not 3600
    assert parse_ban(stale, NOW).exp == 100
    assert parse_ban({**ROW_17, "exp": 10, "expires_at": NOW + 500}, NOW).exp == 500
    assert parse_ban({**ROW_17, "expires_at": NOW + 100.9}, NOW).exp == 100  # floored, as exp is


def test_17_permanent_rows_have_expires_at_0() -> None:
    permanent = parse_ban({**ROW_17, "exp": 0, "expires_at": 0, "permanent": True}, NOW)
    assert (permanent.exp, permanent.permanent) == (0, True)


def test_17_a_passed_expires_at_is_gone_not_malformed() -> None:
    gone = {**ROW_17, "exp": 40, "expires_at": NOW - 1}
    assert parse_ban(gone, NOW) is None
    assert expired_row(gone, NOW)
    assert not expired_row(ROW_17, NOW) and not expired_row(ROW_16, NOW)


@pytest.mark.parametrize("expires_at", ["soon", True, -5, 2**40, [1]])
def test_17_a_hostile_expires_at_is_refused(expires_at) -> None:
    assert parse_ban({**ROW_17, "expires_at": expires_at}, NOW) is None


def test_17_top_level_and_the_empty_data_object() -> None:
    now = int(time.time())
    answer = parse_answer("a", success([{**ROW_17, "expires_at": now + 3600}], generation_epoch=4, snapshot_time=now))
    [ban] = answer.bans  # read at the wall clock: a moment after ``now``
    assert (3590 < ban.exp <= 3600, answer.incomplete) == (True, False)
    empty = parse_answer("a", success({}, generation_epoch=5, snapshot_time=NOW))
    assert (empty.error, empty.listed, empty.rows) == (None, {}, 0)


def test_17_total_says_whether_pages_remain() -> None:
    first = parse_answer("a", success([ROW_17, {**ROW_17, "ip": "192.0.2.2"}], total=3))
    assert (first.rows, first.incomplete) == (2, True)
    parse_answer("a", success([{**ROW_17, "ip": "192.0.2.3"}], total=3), first)
    assert (first.rows, first.incomplete, len(first.bans)) == (3, False, 3)
    for total in (-1, "3", None, True):
        assert not parse_answer("a", success([ROW_17], total=total)).incomplete


def test_pages_share_the_per_instance_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from redissync.bans import listing
    monkeypatch.setattr(listing, "MAX_BANS_PER_INSTANCE", 3)
    answer = InstanceAnswer("a")
    for start in (0, 2):
        parse_answer("a", success([{**ROW_17, "ip": f"10.0.0.{start + i}"} for i in range(2)], total=4), answer)
    assert (len(answer.listed), answer.malformed, answer.incomplete) == (3, 1, False)
