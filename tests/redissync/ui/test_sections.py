"""The page's bans section: what the instances added to the last pass, CrowdSec's leases shown as CrowdSec's."""

from __future__ import annotations

from redissync.bans.local_only import InstancesReport
from redissync.ui.sections import bans


def test_the_last_pass_line_shows_leases_as_managed_by_crowdsec() -> None:
    last = {"ok": True, "seen": 3, "new": 0, "restored": 0, "expired": 0, "unbans": 0, "malformed": 0, "elapsed_ms": 4,
            "instances": {"instances": 2, "answered": 2, "propagated": 1, "sources": 1, "leases": 3, "silent": {}}}
    line = bans({"by_scope": {}, "by_reason": {}, "recent": [], "last_pass": last})["last_pass"]["summary"]
    assert "1 local-only bans propagated from 1 instances (2/2 answered, 3 CrowdSec leases left to CrowdSec)" in line
    assert line.endswith("; " + InstancesReport(**last["instances"]).line())  # the page says what the scheduler's log said
    last["instances"]["leases"] = 0
    assert "CrowdSec" not in bans({"last_pass": last})["last_pass"]["summary"]
