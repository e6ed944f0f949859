"""Every diagnostic code has a broken spec under tests/broken_specs/, and the real
loader + linter report exactly the `file:line:col CODE` lines in its expected.txt."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.commands.validate import validate
from engine.spec.lint.codes import ALL_CODES

ROOT = Path(__file__).parent / "broken_specs"
REPO = Path(__file__).parents[1]
DOCS = REPO / "docs" / "lint-rules.md"
CASES = sorted(p for p in ROOT.iterdir() if p.is_dir())
# INTERNAL means a bug in the loader or linter: there is no spec that should produce it.
NO_EXAMPLE = {"INTERNAL"}


def actual(case: Path) -> list[str]:
    diags, _ = validate([str(case)])
    return sorted(f"{_shown(Path(d.pos.file), case)}:{d.pos.line}:{d.pos.col} {d.code}" for d in diags)


def _shown(file: Path, case: Path) -> str:
    """A file of the case relative to it; one outside (the paper venue's contract catalogue) to the repo."""
    file = file.resolve()
    return file.relative_to(case.resolve() if file.is_relative_to(case.resolve()) else REPO).as_posix()


def expected(case: Path) -> list[str]:
    return sorted(line.strip() for line in (case / "expected.txt").read_text().splitlines()
                  if line.strip() and not line.startswith("#"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_spec_reports_exactly(case: Path):
    assert actual(case) == expected(case)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_is_named_after_a_code_it_reports(case: Path):
    assert case.name.split("--")[0] in {line.split()[-1] for line in expected(case)}


def _covered() -> set[str]:
    return {line.split()[-1] for case in CASES for line in expected(case)}


def _documented() -> set[str]:
    return set(re.findall(r"^### `?([A-Z][A-Z0-9_]+)`?", DOCS.read_text(), flags=re.M))


def test_every_code_has_a_broken_spec():
    assert set(ALL_CODES) - NO_EXAMPLE - _covered() == set()


def test_docs_document_exactly_the_codes():
    assert _documented() == set(ALL_CODES)
    assert _covered() <= _documented()


def test_each_code_has_the_severity_its_docs_state():
    """docs/lint-rules.md opens each code's section with `error.` or `warning.`; codes.py must
    agree (an error demoted to a warning lets a bad spec pass `engine validate`)."""
    stated = dict(re.findall(r"^### `?([A-Z][A-Z0-9_]+)`?\n(\w+)\.", DOCS.read_text(), flags=re.M))
    assert {code: sev.value for code, sev in ALL_CODES.items()} == stated
