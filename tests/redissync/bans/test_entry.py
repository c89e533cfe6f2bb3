"""A journaled ban's text form: every byte survives export and import, binary included."""

from __future__ import annotations

from redissync.bans.entry import from_text
from redissync.bans.scanner import classify


def test_text_form_round_trips_binary() -> None:
    raw = b"\xff\x00ban"
    as_dict = classify(b"bans_ip_192.0.2.1", raw, 10_000_000, 0).as_dict(0)
    assert as_dict["value"].startswith("base64:")
    assert from_text(as_dict["value"]) == raw
    assert from_text("plain") == b"plain"
