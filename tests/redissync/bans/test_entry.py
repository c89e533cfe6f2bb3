"""A ban row: a value is JSON exactly when json.loads says so, and every byte of the text form survives
export and import, binary included."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from redissync.bans.entry import _json, classify, from_text


def test_text_form_round_trips_binary() -> None:
    raw = b"\xff\x00ban"
    as_dict = classify(b"bans_ip_192.0.2.1", raw, 10_000_000, 0).as_dict(0)
    assert as_dict["value"].startswith("base64:")
    assert from_text(as_dict["value"]) == raw
    assert from_text("plain") == b"plain"


_JSON_TEXT = st.one_of(
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                 max_leaves=8).map(json.dumps),
    st.text(max_size=12),
)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(["", " ", "\n", "\t ", "x"]), _JSON_TEXT, st.sampled_from(["", " ", "\r\n", " x", "{}", "]"]))
def test_the_fast_json_path_answers_as_json_loads(before: str, body: str, after: str) -> None:
    text = before + body + after
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError):
        expected = None
    assert repr(_json(text)) == repr(expected)  # repr: NaN equals itself
