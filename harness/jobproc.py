"""Run one job entry file in a process of its own, the way BunkerWeb's scheduler loads it (``exec_module``
under the job's name, os.environ as its settings), so a test can SIGKILL the job in the middle of a pass.

    python -m harness.jobproc redissync-bans      (settings in the environment; exit code = the job's)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from harness import ROOT
from harness.jobrun import INHERITED


def spawn_job(name: str, env: Mapping[str, str]) -> subprocess.Popen:
    """Start ``jobs/<name>.py`` in a child process with ``env`` (plus PATH/HOME and the test's state dirs)."""
    inherited = {key: os.environ[key] for key in INHERITED if key in os.environ}
    return subprocess.Popen([sys.executable, "-m", "harness.jobproc", name], cwd=ROOT, env={**inherited, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "jobs"), str(ROOT)]
    from harness.bwjob import STANDIN_ENV, install
    from harness.jobrun import run_job_file

    if os.environ.get(STANDIN_ENV):
        install()  # BunkerWeb-cache mode: ``import jobs`` finds the Job stand-in

    sys.exit(run_job_file(sys.argv[1], dict(os.environ)))
