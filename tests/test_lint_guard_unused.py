"""RISK_GUARD_UNUSED (engine/spec/lint/risk.py): a guard left out of the risk spec's chain is
warned of, whether or not it reads a limit. min_size and active_symbol read none, and a
mutation that warned only of guards reading a limit survived the suite: dropping either went
unsaid, which is the case the warning exists for."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.commands.validate import validate

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("guard", ["min_size", "active_symbol", "wallet_available"])
def test_a_guard_left_out_of_the_chain_is_warned_of(tmp_path: Path, guard: str) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    risk = specs / "risk" / "risk.yaml"
    text = risk.read_text()
    assert f"  - {guard}\n" in text
    risk.write_text(text.replace(f"  - {guard}\n", "", 1))
    found = [d for d in validate([str(specs)])[0] if d.code == "RISK_GUARD_UNUSED"]
    assert len(found) == 1 and f"`{guard}`" in found[0].message, [d.message for d in found]
