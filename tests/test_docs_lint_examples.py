"""The outputs docs/lint-rules.md shows for an edit of the shipped specs are what `engine validate`
prints for that edit today: they quote the shipped files' lines, which move as the specs grow (the
SCHEMA_MISSING example named risk.yaml lines 50, 80 and 85 when they were 54, 89 and 94)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.spec.validation import REQUIRED_DOCUMENTS

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "lint-rules.md").read_text()


def _section(code: str) -> str:
    return re.search(rf"^### {code}\n(.*?)(?=^#{{2,3}} )", DOC, re.S | re.M).group(1)


def _shown(code: str) -> list[str]:
    """The diagnostic lines of the section's output block (no `$ command` line)."""
    block = next(b for b in re.findall(r"```[a-z]*\n(.*?)```", _section(code), re.S) if f"error {code}" in b)
    return [line for line in block.splitlines() if line and not line.startswith("$ ")]


def _validate(tmp_path: Path, edit) -> list[str]:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    edit(tmp_path / "specs")
    out = subprocess.run([sys.executable, "-m", "engine.cli", "validate", "specs", "--no-cache"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    return [line for line in out.stdout.splitlines() if line and not re.match(r"\d+ errors?, ", line)]


def _drop_limits(specs: Path) -> None:
    risk = specs / "risk" / "risk.yaml"
    lines = risk.read_text().splitlines(keepends=True)
    risk.write_text("".join(x for x in lines if not re.match(r"  (daily_risk_budget_pct|sector_risk_pct):", x)))


@pytest.mark.parametrize("code, edit", [
    ("SCHEMA_MISSING", _drop_limits),
    ("MISSING_DOCUMENT", lambda specs: (specs / "risk" / "risk.yaml").unlink()),
])
def test_a_documented_output_is_what_validate_prints(tmp_path: Path, code: str, edit) -> None:
    assert _validate(tmp_path, edit) == _shown(code)


def test_missing_document_names_every_document_a_run_needs() -> None:
    text = " ".join(_section("MISSING_DOCUMENT").split())
    for kind, _, _ in REQUIRED_DOCUMENTS:
        assert f"`kind: {kind}` document" in text, kind
