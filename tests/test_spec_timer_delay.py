"""A timer delay written as a bare number. Unquoted, the hint said "quote it to make it a string";
quoted, the linter then refused "90" as no duration: a hint that could not be followed. Both now
say what to write (90s or 90m)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.commands.validate import validate

ROOT = Path(__file__).resolve().parents[1]
TIMER = "    after: {delay: params.flatten_retry, event: flatten_overdue}"


@pytest.mark.parametrize("written, code, what", [
    ("90", "SCHEMA_TYPE", "must be a string, not the number `90`"),
    ('"90"', "SCHEMA_VALUE", "`90` has no unit"),
])
def test_a_bare_number_delay_is_told_to_carry_a_unit(tmp_path: Path, written: str, code: str, what: str) -> None:
    tree = Path(shutil.copytree(ROOT / "specs", tmp_path / "specs"))
    kill = tree / "kill" / "kill_modes.yaml"
    assert TIMER in kill.read_text()
    kill.write_text(kill.read_text().replace(TIMER, TIMER.replace("params.flatten_retry", written)))
    diags, _ = validate([str(tree)])
    [d] = [d for d in diags if d.severity.name == "ERROR"]
    assert d.code == code and what in d.message and d.pos.file.endswith("kill_modes.yaml")
    assert d.hint is not None and d.hint.startswith("write 90s for seconds or 90m for minutes")
