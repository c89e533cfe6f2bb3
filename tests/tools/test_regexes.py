"""The seed table's long regexes are generated from named parts, and the parts mean what their names say."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import regexes  # noqa: E402

import docs  # noqa: E402


def test_the_seed_table_holds_the_generated_regexes() -> None:
    seed = json.loads((ROOT / "jobs" / "redissync" / "redis_settings.json").read_text())
    for name, regex in regexes.GENERATED.items():
        assert seed[name]["regex"] == regex, name


def test_a_hand_edit_is_replaced_by_make_docs() -> None:
    seed = json.loads((ROOT / "jobs" / "redissync" / "redis_settings.json").read_text())
    edited = {**seed, "REDIS_HOST": {**seed["REDIS_HOST"], "regex": "^.*$"}}
    assert docs.with_generated_regexes(edited) == seed


def test_the_named_parts() -> None:
    def matches(part: str, text: str) -> bool:
        return re.fullmatch(part, text) is not None

    assert matches(regexes.IPV4, "10.0.0.255")
    assert not matches(regexes.IPV4, "10.0.0.256")
    assert matches(regexes.HOSTNAME, "redis-master.svc.cluster.local.")
    assert not matches(regexes.HOSTNAME, "1.2.3.4")  # digits only: an address, never a name
    assert matches(f"(?:{regexes.IPV6})", "2001:db8::1")
    assert not matches(f"(?:{regexes.IPV6})", "2001:db8:::1")
    assert matches(regexes.PORT, "65535")
    assert not matches(regexes.PORT, "65536")
    assert matches(regexes.ADDRESS_LIST, "s1:26379 [::1]:26380 s3")
    assert not matches(regexes.ADDRESS_LIST, "s1  s2")
