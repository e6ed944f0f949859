"""`engine diff` printed bb1e4d90f40ce0d3 for an unchanged risk file while report.json's
`spec_hashes.risk` was 9d76fa71538c4619: diff hashed the file's bytes, the run the validated
document. The header now names the hash a run records for each side, under its report key."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from engine.run.session import load_specset, spec_hashes

ROOT = Path(__file__).resolve().parents[1]
RISK = ROOT / "specs" / "risk" / "risk.yaml"
KILL = ROOT / "specs" / "kill" / "kill_modes.yaml"
CFG = SimpleNamespace(env="paper", strategy=SimpleNamespace(model_dump=lambda mode, exclude=(): {}, file="none.yaml"),
                      ml=SimpleNamespace(registry="var/models"))


def _header(old: Path, new: Path, side: int = 0) -> str:
    """The header line of the old side (0) or the new one (1)."""
    done = subprocess.run([sys.executable, "-m", "engine.cli", "diff", str(old), str(new)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[side]


def test_the_risk_header_carries_the_hash_the_run_records() -> None:
    recorded = spec_hashes(load_specset([str(ROOT / "specs")]), CFG)
    file = hashlib.sha256(RISK.read_bytes()).hexdigest()[:16]
    assert _header(RISK, RISK).endswith(f"(file {file}, spec_hashes.risk {recorded['risk']})")
    assert _header(KILL, KILL).endswith(f"(spec_hashes.kill_modes {recorded['kill_modes']})")


def test_a_comment_changes_the_files_hash_and_not_the_runs(tmp_path: Path) -> None:
    edited = tmp_path / "risk" / "risk.yaml"
    edited.parent.mkdir()
    edited.write_text("# reviewed\n" + RISK.read_text())
    old, new = (re.search(r"\(file (\w+), spec_hashes.risk (\w+)\)$", _header(RISK, edited, side)).groups()
                for side in (0, 1))
    assert old[0] != new[0] and old[1] == new[1]
