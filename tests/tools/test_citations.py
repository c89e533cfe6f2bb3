"""Every reference the code makes to a document resolves inside the repository: ``docs/<file>.md §<section>``
names an existing file with a ``## §<section>`` heading, and nothing cites documents the repository lacks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"docs/([\w.-]+\.md) §(\w+)")
FOLDERS = ("jobs", "bwcli", "ui", "confs", "harness", "tests", "bench", "demo", "tools")
SOURCES = [path for folder in FOLDERS for path in (ROOT / folder).rglob("*")
           if path.suffix in {".py", ".lua", ".html"} and path.is_file()]


def test_every_section_cited_exists() -> None:
    missing = []
    for path in SOURCES:
        for name, section in CITATION.findall(path.read_text(encoding="utf-8", errors="replace")):
            document = ROOT / "docs" / name
            if not document.is_file() or f"## §{section}" not in document.read_text():
                missing.append(f"{path.relative_to(ROOT)}: docs/{name} §{section}")
    assert missing == []


def test_no_citation_of_a_document_outside_the_repository() -> None:
    outside = re.compile(r"contract §|field notes §|bunkerweb-contract\.md|redis-field-notes\.md", re.IGNORECASE)
    this_file = Path(__file__).resolve()
    assert [str(p.relative_to(ROOT)) for p in SOURCES if p.resolve() != this_file and outside.search(p.read_text(errors="replace"))] == []
