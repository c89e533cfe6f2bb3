"""Text for people: plurals, aligned tables, and a progress line only on a terminal."""

from __future__ import annotations

import io
import os
import pty

from redissync.bwcli.output import Progress, plural, table


def test_plural() -> None:
    assert [plural(n, "live ban") for n in (0, 1, 2)] == ["0 live bans", "1 live ban", "2 live bans"]
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_table_aligns_columns_without_trailing_blanks() -> None:
    lines = table(["IP", "SCOPE", "REASON"], [["2001:db8::1", "global", "x"], ["192.0.2.1", "service", "bad behavior"]])
    assert lines == ["IP           SCOPE    REASON", "2001:db8::1  global   x", "192.0.2.1    service  bad behavior"]


def test_progress_writes_nothing_off_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("work", 10, stream=stream) as progress:
        for done in range(10):
            progress.update(done, force=True)
    assert stream.getvalue() == ""


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    master, slave = pty.openpty()
    try:
        with open(slave, "w", closefd=False) as stream:
            with Progress("work", 1000, stream=stream) as progress:
                progress.update(10, force=True)
                progress.update(1000, force=True)
            os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every byte has been read and the terminal is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        written = b"".join(chunks).decode()
    finally:
        os.close(master)
    assert written == "\rwork: 10/1,000 (1 %)" + "\rwork: 1,000/1,000 (100 %)" + "\r" + " " * 25 + "\r"
