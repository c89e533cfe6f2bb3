"""The job's start-up as bench/bench_bans.py reports it (issue 24: ≤ 120 ms when redis-py is not imported yet):
a fresh interpreter importing what ``jobs/redissync-bans.py`` imports, as BunkerWeb 1.7 starts every job, next to a
plain ``import redis`` measured alongside."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def startup(count: int = 7) -> dict:
    """A fresh interpreter importing what ``jobs/redissync-bans.py`` imports: the sum of ``-X importtime``'s
    top-level entries (wall clock), the whole process's CPU time (interpreter start-up included: on a loaded
    machine the one figure that does not count time spent waiting for a core), and whether ``redis.asyncio``
    was executed."""
    probe = ("import sys, resource; sys.path.insert(0, {jobs!r}); import redissync.bans, redissync.runner; "
             "module = sys.modules.get('redis.asyncio'); usage = resource.getrusage(resource.RUSAGE_SELF); "
             "print('executed' if module is not None and 'Redis' in vars(module) else 'deferred', "
             "(usage.ru_utime + usage.ru_stime) * 1000)")
    plain = ("import resource, redis; usage = resource.getrusage(resource.RUSAGE_SELF); "
             "print('-', (usage.ru_utime + usage.ru_stime) * 1000)")
    # Bytecode first, as BunkerWeb's scheduler leaves it: with PYTHONDONTWRITEBYTECODE set (as on this machine) or a
    # source newer than its .pyc, every probe would compile our modules again (≈ 50 ms, measured) and time that.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "jobs")], check=True)
    wall, cpu, redis_cpu, executed = [], [], [], ""
    for _ in range(count):  # interleaved with a plain `import redis`, the baseline of the same moment
        executed, used = subprocess.run([sys.executable, "-c", probe.format(jobs=str(ROOT / "jobs"))],
                                        capture_output=True, text=True, check=True).stdout.split()
        cpu.append(float(used))
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", probe.format(jobs=str(ROOT / "jobs"))],
                              capture_output=True, text=True, check=True)
        top = [int(match.group(1)) for match in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \| (?! )", done.stderr)]
        wall.append(sum(top) / 1000)
        redis_cpu.append(float(subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, check=True).stdout.split()[1]))
    return {"ms": wall, "cpu_ms": cpu, "redis_cpu_ms": redis_cpu, "asyncio": executed}
