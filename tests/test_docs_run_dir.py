"""The files of a run directory are listed once, in docs/run-report.md, and that list is the
code's (QA D6: README and engine-run.md left out journal.jsonl; run-report.md said "all five"
above a table of six)."""
from __future__ import annotations

import re
from pathlib import Path

from engine.run.report import ARCHIVE_DIR, RUN_FILES
from state.runlock import RUN_DIR_LOCK

ROOT = Path(__file__).resolve().parents[1]


def _table_files() -> list[str]:
    doc = (ROOT / "docs" / "run-report.md").read_text()
    section = doc.split("## The run directory", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)


def test_the_table_lists_every_file_a_run_writes_and_nothing_else() -> None:
    assert sorted(_table_files()) == sorted([*RUN_FILES, RUN_DIR_LOCK, f"{ARCHIVE_DIR}/<time>/"])


def test_the_text_under_the_table_counts_what_the_table_holds() -> None:
    doc = (ROOT / "docs" / "run-report.md").read_text()
    assert not re.search(r"\b(All|The) (five|seven|eight|nine)\b", doc)


def test_the_short_lists_name_the_journal_and_link_to_the_table() -> None:
    for page, link in (("README.md", "docs/run-report.md#the-run-directory"),
                       ("docs/engine-run.md", "run-report.md#the-run-directory")):
        text = (ROOT / page).read_text()
        assert link in text, page
        where = text.index(link)
        assert "journal.jsonl" in text[max(0, where - 400):where], page
