"""reports.py is the contract between the jobs and the page: each cached file, as the real jobs write it,
has exactly the fields its TypedDict lists, and the page reads every file under the name a job writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redissync.cached_files import REPORT_JOBS, SHAPES
from redissync.ui.page import REPORTS


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_cached_report_has_exactly_its_typed_fields(name, healthy_state) -> None:
    written = json.loads((Path(healthy_state.env["REDISSYNC_STATE_DIR"]) / name).read_text())
    assert sorted(written) == sorted(SHAPES[name].__annotations__)


def test_the_page_reads_the_files_the_jobs_write() -> None:
    assert REPORTS == REPORT_JOBS
    assert set(SHAPES) <= set(REPORT_JOBS)
