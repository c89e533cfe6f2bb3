"""docs/lifecycle.md's uninstall lists match what redissync really leaves behind.

Redis keys: every job and bwcli command runs against a real server, then the ``redissync:*`` keys found are exactly
the documented ones (locks aside: released after each pass, checked against the code's lock names). Job cache
files: the documented names are exactly the file-name constants of the package.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.servers import RedisServer
from tests.reliability.test_least_privilege import first_failure

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "lifecycle.md").read_text()
UNINSTALL = DOC[DOC.index("### Uninstalling"):]


def documented_keys() -> set[str]:
    return set(re.findall(r"^\| `(redissync:[^`]+)` \|", UNINSTALL, re.MULTILINE))


def source_text() -> str:
    return "\n".join(path.read_text() for folder in ("jobs", "bwcli", "ui") for path in (ROOT / folder).rglob("*.py"))


def test_documented_redis_keys_are_the_ones_redissync_leaves(make_redis, tmp_path: Path, capsys) -> None:
    server: RedisServer = make_redis()
    assert first_failure(server, server.settings_env(), tmp_path / "bans.jsonl") is None
    left = {key.decode() for key in server.client().scan_iter("redissync:*")}
    capsys.readouterr()
    locks = {f"redissync:lock:{name}" for name in re.findall(r'LOCK_PREFIX \+ "([a-z]+)"', source_text())}
    assert locks, "no lock names found in the code"
    assert documented_keys() - locks == left, "update the uninstall table of docs/lifecycle.md"
    assert locks <= documented_keys()


def test_documented_job_cache_files_are_the_packages_file_names() -> None:
    constants = set(re.findall(r'^[A-Z_]*(?:NAME|FILE|MANIFEST)\s*=\s*"([\w.-]+\.(?:json|sqlite3))"', source_text(),
                               re.MULTILINE))
    mentioned = set(re.findall(r"`([\w-]+\.(?:json|sqlite3))`", UNINSTALL)) - {"plugin.json"}
    assert constants, "update the job cache paragraph of docs/lifecycle.md"
    assert mentioned == constants, "update the job cache paragraph of docs/lifecycle.md"
