"""Headless Chromium (Debian's ``chromium``) for the page tests: screenshot and serialized DOM of a file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"
TIMEOUT_S = 60
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
         "--disable-extensions", "--mute-audio")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    """Run Chromium in its own process group so a hung run is killed with all its helpers."""
    with tempfile.TemporaryDirectory(prefix="redissync-chromium-") as profile:
        process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True, text=True)
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise AssertionError(f"chromium did not finish within {TIMEOUT_S} s") from None
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def dump_dom(page: Path, width: int = 1280, height: int = 1800, extra: tuple[str, ...] = ()) -> str:
    """The DOM after scripts ran, serialized by Chromium."""
    result = _run([f"--window-size={width},{height}", *extra, "--dump-dom", page.as_uri()])
    assert result.returncode == 0, f"chromium --dump-dom failed: {result.stderr[-800:]}"
    assert result.stdout.strip(), f"chromium --dump-dom failed: {result.stderr[-800:]}"
    return result.stdout


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 1800, extra: tuple[str, ...] = ()) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    result = _run([f"--window-size={width},{height}", *extra, f"--screenshot={png}", page.as_uri()])
    assert png.is_file(), f"chromium wrote no screenshot: {result.stderr[-800:]}"
    assert png.stat().st_size > 1000, f"chromium wrote no screenshot: {result.stderr[-800:]}"
    return png
